//! The storage-stack simulator as a [`Model`]: a thin adapter over
//! `reclaimscope_sim::Sim`. Every semantic question (what may run, what a
//! step does, whether a final world is a deadlock, what a step means in
//! kernel terms) is answered by the simulator; this file only translates.

use reclaimscope_sim::pack::Codec;
use reclaimscope_sim::symmetry::Symmetry;
use reclaimscope_sim::{Choice, ChoiceKind, Resource, Sim, Status, WaitEdge, World};

use crate::model::{Model, Terminal};

/// A compiled scenario + policy, explored by the checkers.
pub struct SimModel<'a> {
    sim: &'a Sim,
    /// Interchangeable tasks, for [`Model::representative`].
    symmetry: Symmetry,
    /// Packs queued worlds against the initial one.
    codec: Codec,
    /// `Sim::policy_reads_world`, asked once.
    reads_world: bool,
    /// List only one of several choices that interchangeable tasks offer
    /// in the same situation (see [`SimModel::symmetric_actions`]).
    prune: bool,
}

impl<'a> SimModel<'a> {
    /// Wrap a compiled simulator.
    pub fn new(sim: &'a Sim) -> SimModel<'a> {
        SimModel {
            sim,
            symmetry: Symmetry::new(sim),
            codec: Codec::new(&sim.initial()),
            reads_world: sim.policy_reads_world(),
            prune: false,
        }
    }

    /// With symmetry reduction on, `actions` may leave out a choice whose
    /// successor is a renaming of a listed choice's successor (identical
    /// idle writers or handler threads: `Symmetry::prune`). The searches
    /// key states by orbit, so the orbit is reached anyway, at the same
    /// depth; fewer successors are built and fingerprinted.
    pub fn symmetric_actions(mut self, on: bool) -> Self {
        self.prune = on;
        self
    }

    /// The simulator being explored.
    pub fn sim(&self) -> &'a Sim {
        self.sim
    }
}

impl Model for SimModel<'_> {
    type State = World;
    type Action = Choice;

    fn init_states(&self) -> Vec<World> {
        vec![self.sim.initial()]
    }

    fn actions(&self, state: &World, out: &mut Vec<Choice>) {
        self.sim.choices(state, out);
        if self.prune {
            self.symmetry.prune(state, out);
        }
    }

    fn next_state(&self, state: &World, action: Choice) -> World {
        self.sim.step(state, action)
    }

    fn next_state_in_place(&self, state: &World, action: Choice, out: &mut World) {
        self.sim.step_in_place(state, action, out);
    }

    /// The sim lists only world-changing choices, so a world without any is
    /// final; `Stuck` (an allocation retrying with nothing it may reclaim) and
    /// `Deadlock` (everyone blocked) are both deadlocks for the checker.
    fn terminal(&self, state: &World) -> Terminal {
        match self.sim.status(state) {
            Status::Completed => Terminal::Completed,
            Status::Deadlock | Status::Stuck | Status::Running => Terminal::Deadlock,
        }
    }

    fn is_local(&self, state: &World, action: Choice) -> bool {
        self.sim.independent(state, action, self.reads_world)
    }

    /// The simulator's proof that the step enables nothing that could be
    /// progress (`sim/por.rs`).
    fn is_invisible(&self, state: &World, action: Choice) -> bool {
        self.sim.invisible(state, action)
    }

    /// The simulator decides what counts as progress (a reclaim round that
    /// frees nothing or a retry does not); the checker only looks for
    /// cycles made of non-progress steps.
    fn is_progress(&self, state: &World, action: Choice) -> bool {
        self.sim.is_progress(state, action)
    }

    /// The simulator's canonical form: interchangeable tasks sorted, every
    /// reference to them renamed (`reclaimscope_sim::symmetry`).
    fn representative(&self, state: &World) -> Option<World> {
        self.symmetry.canonical(state)
    }

    /// The canonical form's fingerprint, hashed through the renaming
    /// without building the canonical world.
    fn representative_fingerprint(&self, state: &World) -> u64 {
        self.symmetry.canonical_fingerprint(state)
    }

    /// The simulator's one-pass hash of the used slots (the derived `Hash`
    /// makes one hasher call per field).
    fn fingerprint(&self, state: &World) -> u64 {
        state.fingerprint()
    }

    /// The world's used slots XORed with the initial world's, zero runs
    /// coded (`reclaimscope_sim::pack`).
    fn pack(&self, state: &World, out: &mut Vec<u8>) -> bool {
        self.codec.pack(state, out);
        true
    }

    fn unpack(&self, bytes: &[u8], out: &mut World) {
        self.codec.unpack(bytes, out);
    }

    fn describe(&self, state: &World, action: Choice) -> String {
        self.sim.describe(state, action)
    }
}

/// What `reclaimscope check` reports for one scenario under one policy.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// Scenario name.
    pub scenario: String,
    /// Policy name (`baseline`, `merged`, `baseline+io-flusher`...).
    pub policy: String,
    /// `deadlock`, `livelock`, `safe` or `inconclusive`.
    pub verdict: &'static str,
    /// Distinct states stored.
    pub states: u64,
    /// Transitions taken.
    pub transitions: u64,
    /// BFS levels fully expanded: no deadlock is reachable in fewer steps.
    /// For a deadlock, the length of the (shortest) trace.
    pub depth: u32,
    /// The bound that was hit (`--max-states`, `--max-memory`, `--time-limit`).
    pub bound: Option<&'static str>,
    /// For an inconclusive verdict: which search the bound stopped.
    pub stopped_in: Option<&'static str>,
    /// Visited-set + parent-log bytes per state.
    pub bytes_per_state: f64,
    /// The numbered story, one line per step.
    pub trace: Vec<TraceLine>,
    /// Livelock: the 1-based step where the spinning cycle starts.
    pub loop_start: Option<usize>,
    /// Deadlock: the wait-for cycle at the final world, one edge per line
    /// (`task -> resource -> holder`).
    pub wait_for_cycle: Vec<String>,
    /// Deadlock: the same cycle on one line.
    pub cycle: Option<String>,
    /// Deadlock: the same cycle with every task and resource named, one
    /// object per edge (`run --json` carries the same field).
    pub cycle_edges: Vec<CycleEdge>,
    /// Deadlock: why each unfinished task cannot move.
    pub blocked: Vec<String>,
    /// Deadlock: the simulator's status word for the final world.
    pub status: Option<String>,
    /// Whether the livelock search ran (only after a `safe` deadlock search).
    pub livelock_checked: bool,
    /// States the livelock search stored (its outer search), when it ran.
    pub livelock_states: Option<u64>,
    /// Transitions the livelock search took (outer and inner), when it ran.
    pub livelock_transitions: Option<u64>,
    /// What produced this outcome: kernel release, `--set` values, tool
    /// version. Filled in by the front-end, which knows the command line.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// The inputs besides the scenario file that decide a verdict, recorded in
/// every JSON report so a forwarded result can be reproduced.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// `--kernel X.Y` as given, or null when the scenario's own parameters
    /// were used.
    pub kernel: Option<String>,
    /// Every `--set KEY=VALUE`, in the order applied (after `--kernel`).
    pub set: Vec<String>,
    /// `reclaimscope X.Y.Z`.
    pub tool_version: String,
}

/// One edge of a wait-for cycle with names: `task` waits for `resource`
/// (of kind `lock`, `bio`, `memory` or `reserve`), which only `held_by`
/// can release.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CycleEdge {
    /// The waiting task.
    pub task: String,
    /// `lock`, `bio`, `memory` or `reserve`.
    pub kind: &'static str,
    /// The lock's name, `bio@DEVICE`, `memory` or the dm-bufio reserve.
    pub resource: String,
    /// The task that holds or serves it.
    pub held_by: String,
}

/// Name every task and resource of a wait-for cycle.
pub fn cycle_edges(sim: &Sim, cycle: &[WaitEdge]) -> Vec<CycleEdge> {
    cycle
        .iter()
        .map(|e| CycleEdge {
            task: sim.task_name(e.task as usize).to_string(),
            kind: match e.waits_for {
                Resource::Lock { .. } => "lock",
                Resource::Bio { .. } => "bio",
                Resource::Memory => "memory",
                Resource::Reserve { .. } => "reserve",
            },
            resource: sim.resource_name(&e.waits_for),
            held_by: sim.task_name(e.held_by as usize).to_string(),
        })
        .collect()
}

/// One step of the story.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceLine {
    /// 1-based step number.
    pub step: usize,
    /// What happened, in kernel terms.
    pub description: String,
    /// Who acted: a task (user task, device worker, daemon, kswapd,
    /// flusher) or, for a disk completing a bio, the disk.
    pub actor: String,
    /// Bios that changed hands in this step, for sequence diagrams.
    pub bios: Vec<BioMove>,
}

/// A bio changing hands: submitted to a device, taken by the task that
/// serves it, or completed back to the task waiting on it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BioMove {
    /// `submitted`, `taken` or `completed`.
    pub event: &'static str,
    /// The device the bio is queued on.
    pub device: String,
    /// The task that submitted the bio and waits for it.
    pub owner: String,
    /// The device worker or daemon thread that serves it; null for a disk,
    /// or for a bio queued where several threads may take it.
    pub server: Option<String>,
}

/// The lane a step belongs to and the bios it moved, read from the worlds
/// before and after it through the simulator's own `blocked_on` (a task
/// waiting on `Resource::Bio`), so no story text is parsed.
pub fn step_facts(
    sim: &Sim,
    before: &World,
    action: Choice,
    after: &World,
) -> (String, Vec<BioMove>) {
    let actor = match action.kind {
        ChoiceKind::Complete => sim.scenario().devices[action.task as usize].name.clone(),
        _ => sim.task_name(action.task as usize).to_string(),
    };
    let dev_name = |d: u8| sim.scenario().devices[d as usize].name.clone();
    // The task serving a bio: known when exactly one can (a loop worker, a
    // bio being served); none for a disk or a queue several threads serve.
    let bio_of = |w: &World, t: usize| match sim.blocked_on(w, t) {
        Some((Resource::Bio { dev }, holders)) => {
            Some((dev, (holders.len() == 1).then(|| holders[0])))
        }
        _ => None,
    };
    let mut bios = Vec::new();
    for t in 0..sim.task_count() {
        let (b, a) = (bio_of(before, t), bio_of(after, t));
        let owner = || sim.task_name(t).to_string();
        let server = |h: Option<u8>| h.map(|s| sim.task_name(s as usize).to_string());
        match (b, a) {
            (None, Some((dev, h))) => bios.push(BioMove {
                event: "submitted",
                device: dev_name(dev),
                owner: owner(),
                server: server(h),
            }),
            (Some((dev, h)), None) => bios.push(BioMove {
                event: "completed",
                device: dev_name(dev),
                owner: owner(),
                server: server(h),
            }),
            (Some((dev, _)), Some(_))
                if action.kind == ChoiceKind::Serve && action.arg as usize == t =>
            {
                bios.push(BioMove {
                    event: "taken",
                    device: dev_name(dev),
                    owner: owner(),
                    server: Some(sim.task_name(action.task as usize).to_string()),
                })
            }
            _ => {}
        }
    }
    (actor, bios)
}

/// Which searches `check_sim` runs.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// After a `safe` deadlock search, also look for livelocks.
    pub livelock: bool,
}

/// Shortest-deadlock BFS, then (when it finds none) the livelock search,
/// under the same bounds; the time limit is shared between the two.
pub fn check_sim(
    sim: &Sim,
    scenario: &str,
    policy: &str,
    opts: &crate::checker::Options<'_>,
    plan: Plan,
) -> Outcome {
    use crate::checker::{bfs, dfs};
    use crate::report::Verdict;
    let model = SimModel::new(sim).symmetric_actions(opts.symmetry);
    let report = bfs::check(&model, opts);
    let mut outcome = outcome_of(&model, scenario, policy, &report, "deadlock search");
    if report.verdict == Verdict::Safe && plan.livelock {
        let mut rest = *opts;
        if let Some(limit) = rest.bounds.time_limit {
            rest.bounds.time_limit = Some(limit.saturating_sub(report.elapsed));
        }
        let live = dfs::check(&model, &rest);
        if live.verdict != Verdict::Safe {
            outcome = outcome_of(&model, scenario, policy, &live, "livelock search");
            // Keep the deadlock search's counts: it saw the whole space.
            outcome.states = report.stats.states;
            outcome.transitions = report.stats.transitions;
            outcome.depth = report.stats.depth;
        }
        outcome.livelock_checked = true;
        outcome.livelock_states = Some(live.stats.states);
        outcome.livelock_transitions = Some(live.stats.transitions);
    }
    outcome
}

fn outcome_of(
    model: &SimModel<'_>,
    scenario: &str,
    policy: &str,
    report: &crate::report::Report<SimModel<'_>>,
    search: &'static str,
) -> Outcome {
    use crate::report::Verdict;
    let (bound, stopped_in) = match report.verdict {
        Verdict::Inconclusive(hit) => (Some(hit.option()), Some(search)),
        _ => (None, None),
    };
    let mut outcome = Outcome {
        scenario: scenario.to_string(),
        policy: policy.to_string(),
        verdict: report.verdict.word(),
        states: report.stats.states,
        transitions: report.stats.transitions,
        depth: report.stats.depth,
        bound,
        stopped_in,
        bytes_per_state: (report.stats.bytes_per_state() * 10.0).round() / 10.0,
        trace: Vec::new(),
        loop_start: None,
        wait_for_cycle: Vec::new(),
        cycle: None,
        cycle_edges: Vec::new(),
        blocked: Vec::new(),
        status: None,
        livelock_checked: false,
        livelock_states: None,
        livelock_transitions: None,
        provenance: Provenance::default(),
    };
    if let Some(trace) = &report.trace {
        let mut w = trace.init.clone();
        for (i, s) in trace.steps.iter().enumerate() {
            let next = model.sim.step(&w, s.action);
            let (actor, bios) = step_facts(model.sim, &w, s.action, &next);
            outcome.trace.push(TraceLine {
                step: i + 1,
                description: s.description.clone(),
                actor,
                bios,
            });
            w = next;
        }
        outcome.loop_start = trace.loop_start.map(|i| i + 1);
        if report.verdict == Verdict::Deadlock {
            outcome.status = Some(format!("{:?}", model.sim.status(&trace.last)).to_lowercase());
            if let Some(cycle) = model.sim.wait_for_cycle(&trace.last) {
                outcome.wait_for_cycle = cycle.iter().map(|e| model.sim.edge_text(e)).collect();
                outcome.cycle = Some(model.sim.cycle_text(&cycle));
                outcome.cycle_edges = cycle_edges(model.sim, &cycle);
            }
            outcome.blocked = model.sim.blocked_lines(&trace.last);
        }
    }
    outcome
}

impl Outcome {
    /// The one-line summary used by `--policy all` and as the first line of
    /// the full text report.
    pub fn headline(&self) -> String {
        let what = match self.verdict {
            // Stuck: no wait-for cycle, an allocation that can reclaim nothing
            // and may not OOM-kill loops forever; still a deadlock verdict.
            "deadlock" if self.status.as_deref() == Some("stuck") => format!(
                "stuck: an allocation loops with nothing it may reclaim; shortest trace {} steps",
                self.trace.len()
            ),
            "deadlock" => format!("shortest trace {} steps", self.trace.len()),
            "livelock" => format!(
                "spins forever from step {} of {}",
                self.loop_start.unwrap_or(0),
                self.trace.len()
            ),
            "inconclusive" => format!(
                "{} hit in the {}; no deadlock in fewer than {} steps",
                self.bound.unwrap_or("a bound"),
                self.stopped_in.unwrap_or("search"),
                self.depth
            ),
            _ if self.livelock_checked => "no reachable deadlock or livelock".to_string(),
            _ => "no reachable deadlock".to_string(),
        };
        format!(
            "{} [{}]: {} ({what}; {} states, {} transitions)",
            self.scenario, self.policy, self.verdict, self.states, self.transitions
        )
    }

    /// The full text report: headline, numbered story, wait-for cycle.
    pub fn render_text(&self) -> String {
        let mut out = self.headline();
        out.push('\n');
        let width = self.trace.len().to_string().len();
        for line in &self.trace {
            if self.loop_start == Some(line.step) {
                out.push_str(&format!(
                    "  {:>width$}  -- the steps from here repeat forever --\n",
                    ""
                ));
            }
            out.push_str(&format!("  {:>width$}. {}\n", line.step, line.description));
        }
        if let Some(cycle) = &self.cycle {
            out.push_str(&format!("wait-for cycle: {cycle}\n"));
        }
        if !self.blocked.is_empty() {
            out.push_str("blocked:\n");
            for line in &self.blocked {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }
}

/// A seeded run's steps as trace lines, for a run that ended deadlocked or
/// stuck: the same walk as `reclaimscope_sim::run` (uniform choice with the
/// seed's `Rng`), replayed here because the sim's report keeps only story
/// text. Returns the lines and the final world, which the caller compares
/// with the run's own `final_world` before trusting them. Long runs keep
/// only steps that touch the tasks in `involved` (the cycle's), the last
/// `keep` of them, numbered by their step in the run.
pub fn run_trace(
    sim: &Sim,
    seed: u64,
    max_steps: u64,
    involved: &[String],
    keep: usize,
) -> (Vec<TraceLine>, World) {
    let mut rng = reclaimscope_sim::Rng::new(seed);
    let mut w = sim.initial();
    let mut buf = Vec::new();
    let mut lines = Vec::new();
    let mut steps = 0u64;
    loop {
        sim.choices(&w, &mut buf);
        if buf.is_empty() || steps >= max_steps {
            break;
        }
        let c = buf[rng.below(buf.len())];
        let next = sim.step(&w, c);
        steps += 1;
        let (actor, bios) = step_facts(sim, &w, c, &next);
        lines.push(TraceLine {
            step: steps as usize,
            description: sim.describe(&w, c),
            actor,
            bios,
        });
        w = next;
    }
    if lines.len() > keep {
        let touches = |l: &TraceLine| {
            involved.contains(&l.actor)
                || l.bios.iter().any(|b| {
                    involved.contains(&b.owner)
                        || b.server.as_ref().is_some_and(|s| involved.contains(s))
                })
        };
        lines.retain(touches);
        let skip = lines.len().saturating_sub(keep);
        lines.drain(..skip);
    }
    (lines, w)
}
