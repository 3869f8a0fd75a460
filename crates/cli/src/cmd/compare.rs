//! `reclaimscope compare`: every policy on every scenario, side by side.
//! Each cell is an exhaustive `check` verdict plus `run` metrics summed over
//! a fixed set of seeds: which policies deadlock, and how much memory
//! reclaim can still reach (Dave Chinner's efficiency argument, measured).

use crate::diag::InputError;
use crate::load;
use crate::membudget::{self, MemoryBudget};
use crate::report::{self, Cell, Meta};
use reclaimscope_check::checker::{Bounds, Options};
use reclaimscope_check::sim_model::{Plan, Provenance, check_sim, cycle_edges, run_trace};
use reclaimscope_model::Policy;
use reclaimscope_sim::{MetricsAcc, RunReport, Sim, Status, run_with};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit status: 0 when the report was written, whatever the verdicts \
(they are the data); 2 on bad input. A cell is `deadlock` when the exhaustive check \
or any seeded run reaches one."
)]
pub struct Args {
    /// Scenario files (TOML).
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// `all` (every policy), or a comma-separated list such as
    /// `baseline,merged,sb-context+io-flusher`.
    #[arg(long, default_value = "all")]
    policy: String,
    /// Output format: md (text within 80 columns, the verdict matrix
    /// first), html (one self-contained page with the matrix, charts and a
    /// sequence diagram per deadlock), json (one object per cell).
    #[arg(long, default_value = "md", value_parser = ["md", "json", "html"])]
    format: String,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Seeded runs per cell for the metrics (seeds 0..N).
    #[arg(long, default_value_t = 32)]
    seeds: u64,
    /// Step bound of each run.
    #[arg(long, default_value_t = 200_000)]
    max_steps: u64,
    /// State bound of each exhaustive check (inconclusive past it).
    #[arg(long, default_value_t = 5_000_000)]
    max_states: u64,
    /// Time bound of each exhaustive check, in seconds.
    #[arg(long, default_value_t = 60.0)]
    time_limit: f64,
    /// Memory bound of each exhaustive check (inconclusive past it), e.g.
    /// 512M. Default: half of the available memory, as for `check`.
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<String>,
    /// Set every history-dependent parameter to what release X.Y[.Z] did.
    /// Several (`4.19,5.4,6.1`) or `lts`: a verdict table, one column per
    /// release, naming the history fact behind each change.
    #[arg(long, value_name = "X.Y")]
    kernel: Option<String>,
    /// Override a scenario parameter (repeatable), e.g. `bufio.gate=fs`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

pub fn run(args: Args) -> Result<u8, InputError> {
    let policies = policies(&args.policy)?;
    let budget = MemoryBudget::resolve(args.max_memory.as_deref())?;
    if let Some(releases) = crate::kernels::releases(args.kernel.as_deref())? {
        return by_release(&args, &policies, &releases);
    }
    let mut cells = Vec::new();
    let tty = std::io::stderr().is_terminal();
    for path in &args.scenarios {
        let sc = load::scenario(path, args.kernel.as_deref(), &args.set)?;
        for p in &policies {
            if tty {
                eprint!("\r\x1b[2Kcompare: {} under {p} ...", sc.name());
            }
            let sim = Sim::new(&sc, p).map_err(|e| InputError(format!("error: {}", e.message)))?;
            // Cells are checked one at a time: each gets the whole bound,
            // and the previous one's memory goes back first.
            membudget::release_freed_memory();
            let max_memory = budget.map(|b| b.per_search(1));
            let mut c = cell(&sim, sc.name(), *p, &args, max_memory);
            c.provenance = load::provenance(args.kernel.as_deref(), &args.set);
            cells.push(c);
        }
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
    let meta = Meta {
        command_line: command_line(),
        provenance: load::provenance(args.kernel.as_deref(), &args.set),
        seeds: args.seeds,
        max_steps: args.max_steps,
        max_states: args.max_states,
        time_limit: args.time_limit,
    };
    let out = match args.format.as_str() {
        "json" => {
            serde_json::to_string_pretty(&cells).map_err(|e| InputError(e.to_string()))? + "\n"
        }
        "html" => report::html::page(&meta, &cells),
        _ => report::md::page(&meta, &cells),
    };
    match &args.output {
        Some(f) => std::fs::write(f, out)
            .map_err(|e| InputError(format!("{}: error: cannot write: {e}", f.display())))?,
        None => print!("{out}"),
    }
    Ok(0)
}

/// `--kernel LIST`: exhaustive verdicts per release (no seeded metrics).
fn by_release(
    args: &Args,
    policies: &[Policy],
    releases: &[reclaimscope_model::history::Release],
) -> Result<u8, InputError> {
    let opts = Options {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        bounds: Bounds {
            max_states: Some(args.max_states),
            time_limit: Some(Duration::from_secs_f64(args.time_limit)),
            ..Bounds::default()
        },
        ..Options::default()
    };
    let mut all = Vec::new();
    for path in &args.scenarios {
        for p in policies {
            let plan = Plan { livelock: false };
            all.push(crate::kernels::series(
                path, releases, &args.set, *p, &opts, plan,
            )?);
        }
    }
    let out = match args.format.as_str() {
        "json" => serde_json::to_string_pretty(&all).map_err(|e| InputError(e.to_string()))? + "\n",
        _ => crate::kernels::render_markdown(&all),
    };
    match &args.output {
        Some(f) => std::fs::write(f, out)
            .map_err(|e| InputError(format!("{}: error: cannot write: {e}", f.display())))?,
        None => print!("{out}"),
    }
    Ok(0)
}

fn policies(spec: &str) -> Result<Vec<Policy>, InputError> {
    if spec == "all" {
        return Ok(Policy::all());
    }
    spec.split(',')
        .map(|p| Policy::parse(p.trim()).map_err(|e| InputError(format!("error: --policy: {e}"))))
        .collect()
}

fn cell(sim: &Sim, scenario: &str, policy: Policy, args: &Args, max_memory: Option<u64>) -> Cell {
    let opts = Options {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        bounds: Bounds {
            max_states: Some(args.max_states),
            time_limit: Some(Duration::from_secs_f64(args.time_limit)),
            max_memory,
        },
        ..Options::default()
    };
    let name = policy.to_string();
    let outcome = check_sim(sim, scenario, &name, &opts, Plan { livelock: false });
    let mut acc = MetricsAcc::new(sim);
    let mut blocked = 0;
    // The first seeded run that ended deadlocked or stuck (not one that
    // merely hit --max-steps): a counterexample in its own right.
    let mut failing: Option<RunReport> = None;
    for seed in 0..args.seeds {
        let r = run_with(sim, seed, args.max_steps, &mut acc);
        if r.reason.is_some() || !r.blocked.is_empty() {
            blocked += 1;
        }
        let end = sim.final_status(&r.final_world);
        if failing.is_none() && matches!(end, Status::Deadlock | Status::Stuck) {
            failing = Some(r);
        }
    }
    let mut c = Cell {
        scenario: scenario.to_string(),
        policy: name,
        verdict: outcome.verdict,
        found_by: None,
        seed: None,
        bound: outcome.bound,
        states: outcome.states,
        trace_steps: None,
        runs: args.seeds,
        runs_blocked: blocked,
        metrics: acc.finish(sim),
        trace: Vec::new(),
        cycle: None,
        cycle_edges: Vec::new(),
        blocked: Vec::new(),
        provenance: Provenance::default(),
    };
    if outcome.verdict == "deadlock" {
        c.found_by = Some("check");
        c.trace_steps = Some(outcome.trace.len());
        c.trace = outcome.trace;
        c.cycle = outcome.cycle;
        c.cycle_edges = outcome.cycle_edges;
        c.blocked = outcome.blocked;
    } else if let Some(r) = failing {
        // The exhaustive search did not reach it (a bound), but this seed
        // did: the cell is a deadlock, shown with the run's own steps.
        let edges = r
            .cycle
            .as_deref()
            .map(|cy| cycle_edges(sim, cy))
            .unwrap_or_default();
        let mut involved: Vec<String> = edges
            .iter()
            .flat_map(|e| [e.task.clone(), e.held_by.clone()])
            .collect();
        if involved.is_empty() {
            involved = (0..sim.task_count())
                .filter(|&t| sim.blocked_on(&r.final_world, t).is_some())
                .map(|t| sim.task_name(t).to_string())
                .collect();
        }
        let (trace, end) = run_trace(sim, r.seed, args.max_steps, &involved, RUN_TRACE_KEEP);
        c.verdict = "deadlock";
        c.found_by = Some("run");
        c.seed = Some(r.seed);
        if end == r.final_world {
            c.trace = trace;
        }
        c.cycle = r.cycle_text;
        c.cycle_edges = edges;
        c.blocked = r.blocked;
    }
    c
}

/// Steps of a run-found deadlock kept for its diagram and story.
const RUN_TRACE_KEEP: usize = 40;

/// The command line as typed, for the report's provenance (arguments with
/// spaces or shell metacharacters quoted).
fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| match i {
            // The program as a user would type it, not this machine's path.
            0 => std::path::Path::new(&a)
                .file_name()
                .map_or(a.clone(), |f| f.to_string_lossy().into_owned()),
            _ => a,
        })
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,+:@%".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
