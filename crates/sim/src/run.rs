//! `run`: a seeded random walk through a scenario, with metrics computed
//! from each step's events (outside the world, so the checker's state
//! space stays finite).

use crate::sim::{Choice, EvKind, Events, Sim, Status};
use crate::story::WaitEdge;
use crate::world::*;
use serde::Serialize;

/// splitmix64: tiny, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (multiply-shift; n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Completed,
    Deadlock,
    Stuck,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: u32,
    pub p90: u32,
    pub p99: u32,
    pub max: u32,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SourcePages {
    pub source: String,
    pub pages: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LockWait {
    pub lock: String,
    /// Simulated time tasks spent waiting for the lock (summed over waiters).
    pub time: u64,
}

/// Metrics of one run or of many (summed). Time is counted in steps.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Metrics {
    pub steps: u64,
    /// Simulated time (see `STEP_COST`, `RECLAIM_COST`, `DISK_IO_COST`).
    pub time: u64,
    pub allocations: u64,
    /// Allocations that returned NULL.
    pub alloc_failures: u64,
    /// Operations that failed with -ENOMEM (a NULL with no fallback).
    pub enomem: u64,
    pub direct_reclaim_rounds: u64,
    /// Rounds that freed at least one page.
    pub direct_reclaim_successes: u64,
    pub direct_reclaim_success_rate: f64,
    /// Mean pages the sources a direct-reclaim round may touch could free.
    pub reach_mean: f64,
    /// Summed over direct-reclaim rounds: pages the context may touch ...
    pub reach_pages: u64,
    /// ... and all reclaimable pages at that moment (reach% = reach / reclaimable).
    pub reclaimable_pages: u64,
    pub pages_reclaimed: Vec<SourcePages>,
    pub kswapd_pages: u64,
    pub oom_kills: u64,
    pub alloc_latency: Percentiles,
    pub lock_wait: Vec<LockWait>,
}

/// Accumulates metrics over one or more runs.
#[derive(Clone, Debug)]
pub struct MetricsAcc {
    steps: u64,
    allocations: u64,
    alloc_failures: u64,
    enomem: u64,
    rounds: u64,
    successes: u64,
    reach_sum: u64,
    reclaimable_sum: u64,
    pages: Vec<u64>,
    kswapd_pages: u64,
    oom_kills: u64,
    latency: Vec<u64>,
    lock_wait: Vec<u64>,
    time: u64,
}

const LAT_BUCKETS: usize = 4096;

/// Simulated time of one step, in units: most steps are cheap; a direct or
/// kswapd reclaim pass (LRU scan + shrinkers) and a disk I/O are not. Lock
/// wait and allocation latency are measured in these units, so holding a
/// lock across reclaim (dm-bufio before 9ea61cac0b1a) shows as it did.
pub const STEP_COST: u64 = 1;
pub const RECLAIM_COST: u64 = 20;
pub const DISK_IO_COST: u64 = 50;

fn cost(c: Choice) -> u64 {
    match c.kind {
        crate::sim::ChoiceKind::Reclaim => RECLAIM_COST,
        crate::sim::ChoiceKind::Complete => DISK_IO_COST,
        _ => STEP_COST,
    }
}

impl MetricsAcc {
    pub fn new(sim: &Sim) -> MetricsAcc {
        MetricsAcc {
            steps: 0,
            allocations: 0,
            alloc_failures: 0,
            enomem: 0,
            rounds: 0,
            successes: 0,
            reach_sum: 0,
            reclaimable_sum: 0,
            pages: vec![0; sim.source_count()],
            kswapd_pages: 0,
            oom_kills: 0,
            latency: vec![0; LAT_BUCKETS],
            lock_wait: vec![0; sim.scenario().locks.len()],
            time: 0,
        }
    }

    pub fn finish(&self, sim: &Sim) -> Metrics {
        let pct = |q: f64| -> u32 {
            let total: u64 = self.latency.iter().sum();
            if total == 0 {
                return 0;
            }
            let want = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut acc = 0;
            for (i, &c) in self.latency.iter().enumerate() {
                acc += c;
                if acc >= want {
                    return i as u32;
                }
            }
            (LAT_BUCKETS - 1) as u32
        };
        Metrics {
            steps: self.steps,
            time: self.time,
            allocations: self.allocations,
            alloc_failures: self.alloc_failures,
            enomem: self.enomem,
            direct_reclaim_rounds: self.rounds,
            direct_reclaim_successes: self.successes,
            direct_reclaim_success_rate: if self.rounds == 0 {
                1.0
            } else {
                self.successes as f64 / self.rounds as f64
            },
            reach_mean: if self.rounds == 0 {
                0.0
            } else {
                self.reach_sum as f64 / self.rounds as f64
            },
            reach_pages: self.reach_sum,
            reclaimable_pages: self.reclaimable_sum,
            pages_reclaimed: self
                .pages
                .iter()
                .enumerate()
                .map(|(s, &p)| SourcePages {
                    source: sim.source_name(s),
                    pages: p,
                })
                .collect(),
            kswapd_pages: self.kswapd_pages,
            oom_kills: self.oom_kills,
            alloc_latency: Percentiles {
                p50: pct(0.5),
                p90: pct(0.9),
                p99: pct(0.99),
                max: self.latency.iter().rposition(|&c| c > 0).unwrap_or(0) as u32,
            },
            lock_wait: self
                .lock_wait
                .iter()
                .enumerate()
                .map(|(l, &s)| LockWait {
                    lock: sim.scenario().locks[l].clone(),
                    time: s,
                })
                .collect(),
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub outcome: Outcome,
    /// Why a stuck run is stuck.
    pub reason: Option<String>,
    pub steps: u64,
    /// The numbered story (deadlock / stuck only): the steps of the tasks involved.
    pub trace: Vec<String>,
    /// What each blocked task waits for at the end.
    pub blocked: Vec<String>,
    pub cycle: Option<Vec<WaitEdge>>,
    /// The cycle as one line of names.
    pub cycle_text: Option<String>,
    pub metrics: Metrics,
    #[serde(skip)]
    pub final_world: World,
}

/// Run one seeded random walk of at most `max_steps` steps.
pub fn run(sim: &Sim, seed: u64, max_steps: u64) -> RunReport {
    let mut acc = MetricsAcc::new(sim);
    run_with(sim, seed, max_steps, &mut acc)
}

/// One run whose metrics add to `acc` (the report carries the running total).
pub fn run_with(sim: &Sim, seed: u64, max_steps: u64, acc: &mut MetricsAcc) -> RunReport {
    let mut walker = Walker::new(sim);
    let outcome = walker.walk(seed, max_steps, acc, true);
    report(sim, seed, outcome, (*walker.w).clone(), &walker.trace, acc)
}

/// Walk without building a report: for benchmarks and sweeps.
/// Returns the outcome and the number of steps taken.
pub fn run_quiet(sim: &Sim, seed: u64, max_steps: u64, acc: &mut MetricsAcc) -> (Status, u64) {
    Walker::new(sim).run_quiet(seed, max_steps, acc)
}

/// Reusable buffers for many runs of one simulation (no allocation per run).
pub struct Walker<'a> {
    sim: &'a Sim,
    w: Box<World>,
    next: Box<World>,
    buf: Vec<Choice>,
    trace: Vec<Choice>,
}

impl<'a> Walker<'a> {
    pub fn new(sim: &'a Sim) -> Walker<'a> {
        Walker {
            sim,
            w: Box::new(sim.initial()),
            next: Box::new(sim.initial()),
            buf: Vec::with_capacity(32),
            trace: Vec::new(),
        }
    }

    /// One seeded run; metrics add to `acc`.
    pub fn run_quiet(&mut self, seed: u64, max_steps: u64, acc: &mut MetricsAcc) -> (Status, u64) {
        let before = acc.steps;
        let s = self.walk(seed, max_steps, acc, false);
        (s, acc.steps - before)
    }

    fn walk(&mut self, seed: u64, max_steps: u64, acc: &mut MetricsAcc, record: bool) -> Status {
        let sim = self.sim;
        let mut rng = Rng::new(seed);
        // Two boxed worlds, swapped each step: no copy of the successor.
        (*self.w).clone_from(&sim.init);
        self.trace.clear();
        let (w, next, buf, trace) = (&mut self.w, &mut self.next, &mut self.buf, &mut self.trace);
        let mut ev = Events::default();
        let mut start = [NOT_STARTED; crate::scenario::MAX_TASKS];
        let mut steps = 0u64;
        let mut time = acc.time;
        let status = loop {
            sim.choices(w, buf);
            if buf.is_empty() {
                break sim.final_status(w);
            }
            if steps >= max_steps {
                break Status::Running;
            }
            let c = buf[rng.below(buf.len())];
            if record {
                trace.push(c);
            }
            let dt = cost(c);
            // Waiters accrue wait for the whole step, measured in the world before it.
            account_locks(sim, w, dt, acc);
            sim.step_into(w, c, &mut ev, next);
            std::mem::swap(w, next);
            steps += 1;
            time += dt;
            account(sim, &ev, time, &mut start, acc);
        };
        acc.steps += steps;
        acc.time = time;
        status
    }
}

/// `start[t]` of a task with no allocation under way.
const NOT_STARTED: u64 = u64::MAX;

/// Fold one step's events into the metrics. `start[t]`: the step at which
/// task `t`'s current allocation began.
fn account(sim: &Sim, ev: &Events, step: u64, start: &mut [u64], acc: &mut MetricsAcc) {
    for e in ev.iter() {
        let t = e.task as usize;
        match e.kind {
            EvKind::AllocStep => {
                if start[t] == NOT_STARTED {
                    start[t] = step;
                }
            }
            EvKind::AllocOk | EvKind::AllocFail => {
                acc.allocations += 1;
                let lat = (step - start[t].min(step)) as usize;
                acc.latency[lat.min(LAT_BUCKETS - 1)] += 1;
                start[t] = NOT_STARTED;
                if e.kind == EvKind::AllocFail {
                    acc.alloc_failures += 1;
                    acc.enomem += e.b as u64;
                }
            }
            EvKind::Enomem => acc.enomem += 1,
            EvKind::ReclaimEnter => {
                acc.rounds += 1;
                acc.reach_sum += e.a as u64;
                acc.reclaimable_sum += e.c as u64;
            }
            EvKind::ReclaimDone => {
                acc.pages[e.a as usize] += e.b as u64;
                if sim.is_kswapd(t) {
                    acc.kswapd_pages += e.b as u64;
                } else if e.b > 0 {
                    acc.successes += 1;
                }
            }
            EvKind::OomKill => acc.oom_kills += 1,
            EvKind::LockTaken | EvKind::TaskDone | EvKind::None => {}
        }
    }
}

fn account_locks(sim: &Sim, w: &World, dt: u64, acc: &mut MetricsAcc) {
    for (l, owner) in w.locks[..w.nl as usize].iter().enumerate() {
        if *owner != NONE {
            acc.lock_wait[l] += sim.waiters(w, l) as u64 * dt;
        }
    }
}

fn report(
    sim: &Sim,
    seed: u64,
    status: Status,
    w: World,
    choices: &[Choice],
    acc: &MetricsAcc,
) -> RunReport {
    let metrics = acc.finish(sim);
    let steps = choices.len() as u64;
    let (outcome, reason) = match status {
        Status::Completed => (Outcome::Completed, None),
        Status::Deadlock => (Outcome::Deadlock, None),
        Status::Stuck => (Outcome::Stuck, Some(sim.stuck_reason(&w))),
        Status::Running => (
            Outcome::Stuck,
            Some(format!(
                "no completion within {steps} steps (livelock or a long run; raise --max-steps)"
            )),
        ),
    };
    let mut trace = Vec::new();
    let mut blocked = Vec::new();
    let cycle = if outcome == Outcome::Completed {
        None
    } else {
        sim.wait_for_cycle(&w)
    };
    if outcome != Outcome::Completed {
        blocked = sim.blocked_lines(&w);
        trace = story(sim, choices, &w, cycle.as_deref());
    }
    let cycle_text = cycle.as_ref().map(|c| sim.cycle_text(c));
    RunReport {
        seed,
        outcome,
        reason,
        steps,
        trace,
        blocked,
        cycle,
        cycle_text,
        metrics,
        final_world: w,
    }
}

/// The steps that matter, replayed from the start: every step when the run
/// is short, else the steps of the tasks in the cycle (or the blocked ones).
fn story(sim: &Sim, choices: &[Choice], end: &World, cycle: Option<&[WaitEdge]>) -> Vec<String> {
    const SHORT: usize = 40;
    let mut involved = 0u32;
    match cycle {
        Some(c) => c
            .iter()
            .for_each(|e| involved |= 1 << e.task | 1 << e.held_by),
        None => (0..end.nt as usize)
            .filter(|&t| sim.blocked_on(end, t).is_some())
            .for_each(|t| involved |= 1 << t),
    }
    let keep = |c: &Choice| {
        choices.len() <= SHORT
            || c.kind != crate::sim::ChoiceKind::Complete && involved & (1 << c.task) != 0
            || c.kind == crate::sim::ChoiceKind::Serve && involved & (1 << c.arg) != 0
    };
    let mut w = sim.initial();
    let mut lines = Vec::new();
    for c in choices {
        if keep(c) {
            lines.push(sim.describe(&w, *c));
        }
        w = sim.step(&w, *c);
    }
    let skip = lines.len().saturating_sub(SHORT);
    lines.drain(..skip);
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}. {l}", i + 1))
        .collect()
}
