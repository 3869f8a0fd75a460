//! `reclaimscope run`: seeded random walks through a scenario.

use crate::diag::InputError;
use reclaimscope_check::sim_model::{CycleEdge, Provenance, cycle_edges};
use reclaimscope_model::Policy;
use reclaimscope_sim::run::Walker;
use reclaimscope_sim::{MetricsAcc, Outcome, RunReport, Scenario, Sim, Status};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Policy, e.g. `baseline`, `merged`, `baseline+io-flusher` (default: the scenario's first).
    #[arg(long)]
    pub policy: Option<String>,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of runs (seeds seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// Steps after which a run that has not ended counts as stuck.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_steps: u64,
    /// Override a scenario parameter, e.g. `bufio.gate=fs`, `loop0.noio=true`, `vmalloc=modern`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Set every history-dependent parameter as kernel X.Y had it.
    #[arg(long)]
    pub kernel: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Print the wait-for cycle of the first deadlock as Graphviz DOT.
    #[arg(long)]
    pub dot: bool,
}

pub fn parse_policy(sc: &Scenario, p: Option<&str>) -> Result<Policy, InputError> {
    match p {
        Some(p) => Policy::parse(p).map_err(|e| InputError(format!("error: --policy: {e}"))),
        None => Ok(sc.policies().first().copied().unwrap_or(Policy::BASELINE)),
    }
}

#[derive(Serialize)]
struct Counts {
    completed: u64,
    deadlock: u64,
    stuck: u64,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    scenario: &'a str,
    policy: String,
    seed: u64,
    runs: u64,
    /// The worst outcome over all runs: deadlock > stuck > completed.
    outcome: Outcome,
    outcomes: Counts,
    /// The first run (lowest seed) that did not complete.
    first_failure: Option<Failure<'a>>,
    metrics: reclaimscope_sim::Metrics,
    #[serde(flatten)]
    provenance: Provenance,
}

/// A failing run with its wait-for cycle named the way `check --json`
/// names it: `wait_for_cycle` (one `task -> resource -> holder` string per
/// edge) and `cycle_edges` (task, kind, resource, held_by), beside the
/// run's own fields.
#[derive(Serialize)]
struct Failure<'a> {
    #[serde(flatten)]
    run: &'a RunReport,
    wait_for_cycle: Vec<String>,
    cycle_edges: Vec<CycleEdge>,
}

pub fn run(args: Args) -> Result<u8, InputError> {
    let sc = crate::load::scenario(&args.scenario, args.kernel.as_deref(), &args.sets)?;
    let policy = parse_policy(&sc, args.policy.as_deref())?;
    let sim = Sim::new(&sc, &policy).map_err(|e| InputError(e.to_string()))?;
    let mut acc = MetricsAcc::new(&sim);
    let mut counts = Counts {
        completed: 0,
        deadlock: 0,
        stuck: 0,
    };
    let mut first_failure: Option<RunReport> = None;
    let mut walker = Walker::new(&sim);
    let runs = args.runs.max(1);
    // Many runs take seconds: show a bar on a terminal, nothing when piped.
    let bar = (runs >= 10_000 && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(runs);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {human_pos}/{human_len} runs, eta {eta}",
        ) {
            b.set_style(style);
        }
        b
    });
    for i in 0..runs {
        if let Some(b) = &bar
            && i % 4096 == 0
        {
            b.set_position(i);
        }
        let seed = args.seed.wrapping_add(i);
        let (status, _) = walker.run_quiet(seed, args.max_steps, &mut acc);
        match status {
            Status::Completed => counts.completed += 1,
            Status::Deadlock => counts.deadlock += 1,
            Status::Stuck | Status::Running => counts.stuck += 1,
        }
        if status != Status::Completed && first_failure.is_none() {
            // Replay the same seed to tell its story (runs are deterministic).
            first_failure = Some(reclaimscope_sim::run(&sim, seed, args.max_steps));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let metrics = acc.finish(&sim);
    let outcome = if counts.deadlock > 0 {
        Outcome::Deadlock
    } else if counts.stuck > 0 {
        Outcome::Stuck
    } else {
        Outcome::Completed
    };
    if args.dot {
        if let Some(c) = first_failure.as_ref().and_then(|r| r.cycle.as_ref()) {
            print!("{}", reclaimscope_sim::dot::cycle_dot(&sim, c));
        } else {
            println!("digraph waitfor {{\n  // no deadlock in these runs\n}}");
        }
    } else if args.json {
        let out = JsonOut {
            scenario: sc.name(),
            policy: policy.to_string(),
            seed: args.seed,
            runs: args.runs.max(1),
            outcome,
            outcomes: counts,
            first_failure: first_failure.as_ref().map(|r| {
                let cycle = r.cycle.as_deref().unwrap_or_default();
                Failure {
                    run: r,
                    wait_for_cycle: cycle.iter().map(|e| sim.edge_text(e)).collect(),
                    cycle_edges: cycle_edges(&sim, cycle),
                }
            }),
            metrics,
            provenance: crate::load::provenance(args.kernel.as_deref(), &args.sets),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| InputError(e.to_string()))?
        );
    } else {
        print!(
            "{}",
            text(
                &sc,
                policy,
                &args,
                outcome,
                &counts,
                first_failure.as_ref(),
                &metrics
            )
        );
    }
    Ok(if outcome == Outcome::Completed { 0 } else { 1 })
}

fn text(
    sc: &Scenario,
    policy: Policy,
    args: &Args,
    outcome: Outcome,
    counts: &Counts,
    fail: Option<&RunReport>,
    m: &reclaimscope_sim::Metrics,
) -> String {
    let mut s = String::new();
    let runs = args.runs.max(1);
    let _ = writeln!(
        s,
        "scenario {}  policy {policy}  seed {}{}",
        sc.name(),
        args.seed,
        if runs > 1 {
            format!("  runs {runs}")
        } else {
            String::new()
        }
    );
    let name = |o: Outcome| match o {
        Outcome::Completed => "completed",
        Outcome::Deadlock => "deadlock",
        Outcome::Stuck => "stuck",
    };
    if runs > 1 {
        let _ = writeln!(
            s,
            "outcome: {} ({} completed, {} deadlock, {} stuck)",
            name(outcome),
            counts.completed,
            counts.deadlock,
            counts.stuck
        );
    } else {
        let _ = writeln!(s, "outcome: {}", name(outcome));
    }
    if let Some(r) = fail {
        if runs > 1 {
            let _ = writeln!(
                s,
                "\nfirst failing run: seed {}, {} after {} steps",
                r.seed,
                name(r.outcome),
                r.steps
            );
        }
        let _ = writeln!(s, "\nwhat happened:");
        for l in &r.trace {
            let _ = writeln!(s, "  {l}");
        }
        let n = r.trace.len();
        for (i, l) in r.blocked.iter().enumerate() {
            let _ = writeln!(s, "  {}. {l}", n + i + 1);
        }
        if let Some(c) = &r.cycle_text {
            let _ = writeln!(s, "\nwait-for cycle: {c}");
        }
        if let Some(why) = &r.reason {
            let _ = writeln!(s, "\nstuck: {why}");
        }
    }
    let _ = writeln!(s, "\nmetrics{}:", if runs > 1 { " (all runs)" } else { "" });
    let _ = writeln!(
        s,
        "  steps                      {} (simulated time {})",
        m.steps, m.time
    );
    let _ = writeln!(s, "  allocations                {}", m.allocations);
    let _ = writeln!(s, "  allocation failures (NULL) {}", m.alloc_failures);
    let _ = writeln!(s, "  -ENOMEM                    {}", m.enomem);
    let _ = writeln!(
        s,
        "  direct-reclaim rounds      {} ({} freed at least one page: {:.0}%)",
        m.direct_reclaim_rounds,
        m.direct_reclaim_successes,
        m.direct_reclaim_success_rate * 100.0
    );
    let _ = writeln!(s, "  reclaim reach (mean pages) {:.2}", m.reach_mean);
    let _ = writeln!(s, "  OOM kills                  {}", m.oom_kills);
    let l = &m.alloc_latency;
    let _ = writeln!(
        s,
        "  allocation latency (time) p50 {} p90 {} p99 {} max {}",
        l.p50, l.p90, l.p99, l.max
    );
    let _ = writeln!(s, "  pages reclaimed:");
    for p in &m.pages_reclaimed {
        let _ = writeln!(s, "    {:<40} {}", p.source, p.pages);
    }
    if m.kswapd_pages > 0 {
        let _ = writeln!(s, "    (by kswapd: {})", m.kswapd_pages);
    }
    let _ = writeln!(s, "  lock wait (time, summed over waiters):");
    for w in &m.lock_wait {
        let _ = writeln!(s, "    {:<40} {}", w.lock, w.time);
    }
    s
}
