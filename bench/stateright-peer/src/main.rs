//! `stateright-peer MODEL...`: explore one model with stateright's BFS
//! checker and with reclaimscope-check's BFS, same thread count, and print
//! unique states/second for both, the ratio, and reclaimscope-check's bytes
//! per visited state. Models:
//!   philosophers N       N dining philosophers, asymmetric (safe): full space
//!   philosophers-dl N    N symmetric philosophers: time to the deadlock

mod philosophers;
mod scenario;

use reclaimscope_check::checker::{Options, bfs};
use reclaimscope_check::{Model, Terminal};
use stateright::{Checker, Model as _};
use std::time::Instant;

/// A reclaimscope-check model seen through stateright's `Model` trait; with
/// `property`, stateright checks "no deadlock" on every state.
pub struct Peer<M> {
    model: M,
    property: bool,
}

/// A cheap deadlock test for stateright's `always` property (stateright has no
/// built-in notion of a final state; calling `actions` again would charge it
/// twice for successor generation).
pub trait Deadlocked: Model {
    fn deadlocked(&self, s: &Self::State) -> bool;
}

impl<M> stateright::Model for Peer<M>
where
    M: Deadlocked + Send + Sync + 'static,
    M::State: std::fmt::Debug + PartialEq + 'static,
    M::Action: PartialEq + 'static,
{
    type State = M::State;
    type Action = M::Action;
    fn init_states(&self) -> Vec<M::State> {
        self.model.init_states()
    }
    fn actions(&self, s: &M::State, out: &mut Vec<M::Action>) {
        self.model.actions(s, out);
    }
    fn next_state(&self, s: &M::State, a: M::Action) -> Option<M::State> {
        Some(self.model.next_state(s, a))
    }
    fn properties(&self) -> Vec<stateright::Property<Self>> {
        if !self.property {
            // Stateright stops once every property is decided; with none it
            // would stop at once. A property that always holds keeps it
            // exploring without evaluating anything per state.
            return vec![stateright::Property::always("true", |_, _| true)];
        }
        vec![stateright::Property::always(
            "no deadlock",
            |m: &Self, s| !m.model.deadlocked(s),
        )]
    }
}

/// Both checkers stop after this many states (env MAX_STATES, default 3M):
/// the machine is shared, and stateright keeps every state in memory.
fn max_states() -> u64 {
    std::env::var("MAX_STATES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(3_000_000)
}

struct Run {
    unique: u64,
    seconds: f64,
    deadlock: bool,
}

fn run_stateright<M>(model: M, threads: usize, property: bool) -> Run
where
    M: Deadlocked + Send + Sync + 'static,
    M::State: std::fmt::Debug + PartialEq + 'static,
    M::Action: PartialEq + 'static,
{
    let start = Instant::now();
    let checker = Peer { model, property }
        .checker()
        .threads(threads)
        // Stateright counts generated states (with duplicates) against this.
        .target_state_count(max_states() as usize * 8)
        .spawn_bfs()
        .join();
    let seconds = start.elapsed().as_secs_f64();
    Run {
        unique: checker.unique_state_count() as u64,
        seconds,
        deadlock: property && checker.discovery("no deadlock").is_some(),
    }
}

fn run_check<M: Model>(model: &M, threads: usize, reduce: bool) -> (Run, f64, usize) {
    let opts = Options {
        threads,
        por: reduce,
        symmetry: reduce,
        bounds: reclaimscope_check::Bounds {
            max_states: Some(max_states()),
            max_memory: Some(4 << 30),
            time_limit: None,
        },
        ..Options::default()
    };
    let start = Instant::now();
    let report = bfs::check(model, &opts);
    let seconds = start.elapsed().as_secs_f64();
    let len = report.trace.as_ref().map_or(0, |t| t.steps.len());
    (
        Run {
            unique: report.stats.states,
            seconds,
            deadlock: report.verdict == reclaimscope_check::Verdict::Deadlock,
        },
        report.stats.bytes_per_state(),
        len,
    )
}

fn rate(r: &Run) -> f64 {
    r.unique as f64 / r.seconds.max(1e-9)
}

/// Run both checkers on a model built by `make` (called once per checker).
pub fn compare<M, F>(name: &str, make: F, threads: usize)
where
    M: Deadlocked + Send + Sync + 'static,
    M::State: std::fmt::Debug + PartialEq + 'static,
    M::Action: PartialEq + 'static,
    F: Fn() -> M,
{
    if std::env::var("ONLY").as_deref() == Ok("check") {
        let (ours, bytes, len) = run_check(&make(), threads, false);
        println!(
            "{name}: check {} states in {:.3}s = {:.0}/s, {bytes:.1} bytes/state, deadlock: {} (trace {len})",
            ours.unique,
            ours.seconds,
            rate(&ours),
            ours.deadlock
        );
        return;
    }
    if std::env::var("ONLY").as_deref() == Ok("stateright") {
        // One stateright run alone (with the property), for CPU-time and
        // instruction counts (perf stat, valgrind) of its side only.
        let sr = run_stateright(make(), threads, true);
        println!(
            "{name}: stateright {} states in {:.3}s = {:.0}/s, deadlock: {}",
            sr.unique,
            sr.seconds,
            rate(&sr),
            sr.deadlock
        );
        return;
    }
    // Best of REPEAT runs each (default 3): the machine is shared.
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let best = |runs: Vec<Run>| {
        runs.into_iter()
            .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
            .unwrap()
    };
    let sr = best(
        (0..repeat)
            .map(|_| run_stateright(make(), threads, true))
            .collect(),
    );
    // Exploration alone (no property evaluated per state): the fairest rate.
    // Only where there is no deadlock: "bare" does not stop at one.
    let bare = if sr.deadlock {
        Run {
            unique: sr.unique,
            seconds: sr.seconds,
            deadlock: false,
        }
    } else {
        best(
            (0..repeat)
                .map(|_| run_stateright(make(), threads, false))
                .collect(),
        )
    };
    let mut ours_runs = Vec::new();
    let (mut bytes, mut len) = (0.0, 0);
    for _ in 0..repeat {
        let (r, b, l) = run_check(&make(), threads, false);
        (bytes, len) = (b, l);
        ours_runs.push(r);
    }
    let ours = best(ours_runs);
    let mut reduced_runs = Vec::new();
    let mut rlen = 0;
    for _ in 0..repeat {
        let (r, _, l) = run_check(&make(), threads, true);
        rlen = l;
        reduced_runs.push(r);
    }
    let reduced = best(reduced_runs);
    println!(
        "{name}:\n  stateright BFS   {:>9} states {:>8.1} ms {:>10.0} states/s  deadlock: {}\n  stateright bare  {:>9} states {:>8.1} ms {:>10.0} states/s  (no property: exploration only)\n  check (no POR)   {:>9} states {:>8.1} ms {:>10.0} states/s  deadlock: {} (trace {len} steps)  {bytes:.1} bytes/state\n  ratio            {:.2}x vs stateright BFS, {:.2}x vs bare exploration\n  check (reduced)  {:>9} states {:>8.1} ms (trace {rlen} steps)",
        sr.unique,
        sr.seconds * 1e3,
        rate(&sr),
        sr.deadlock,
        bare.unique,
        bare.seconds * 1e3,
        rate(&bare),
        ours.unique,
        ours.seconds * 1e3,
        rate(&ours),
        ours.deadlock,
        rate(&ours) / rate(&sr),
        rate(&ours) / rate(&bare),
        reduced.unique,
        reduced.seconds * 1e3,
    );
    let _ = Terminal::Completed;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let n = |i: usize| -> usize { args.get(i).and_then(|s| s.parse().ok()).unwrap_or(6) };
    match args.first().map(String::as_str) {
        Some("philosophers") => {
            let n = n(1);
            compare(
                &format!("philosophers-{n} (safe)"),
                || philosophers::Philosophers {
                    n,
                    asymmetric: true,
                },
                threads,
            );
        }
        Some("philosophers-dl") => {
            let n = n(1);
            compare(
                &format!("philosophers-{n} (deadlock)"),
                || philosophers::Philosophers {
                    n,
                    asymmetric: false,
                },
                threads,
            );
        }
        Some("scenario") if args.len() >= 4 => {
            // scenario PATH COPIES POLICY [KEY=VALUE]...
            let (path, policy, sets) = (&args[1], &args[3], &args[4..]);
            let copies: usize = args[2].parse().unwrap_or(1);
            let sim = match scenario::load(path, copies, policy, sets) {
                Ok(sim) => sim,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            let file = std::path::Path::new(path)
                .file_stem()
                .map_or(path.clone(), |f| f.to_string_lossy().into_owned());
            let name = format!(
                "{file} x{copies} tasks [{policy}{}{}]",
                if sets.is_empty() { "" } else { " " },
                sets.join(" ")
            );
            compare(
                &name,
                || reclaimscope_check::sim_model::SimModel::new(sim),
                threads,
            );
        }
        _ => {
            eprintln!(
                "usage: stateright-peer philosophers N | philosophers-dl N | scenario PATH COPIES POLICY [KEY=VALUE]..."
            );
            std::process::exit(2);
        }
    }
}
