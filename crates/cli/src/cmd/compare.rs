//! `reclaimscope compare`: every policy on every scenario, side by side.
//! Each cell is an exhaustive `check` verdict plus `run` metrics summed over
//! a fixed set of seeds: which policies deadlock, and how much memory
//! reclaim can still reach (Dave Chinner's efficiency argument, measured).

use crate::diag::InputError;
use crate::load;
use crate::membudget::{self, MemoryBudget};
use reclaimscope_check::checker::{Bounds, Options};
use reclaimscope_check::sim_model::{Plan, check_sim};
use reclaimscope_model::Policy;
use reclaimscope_sim::{Metrics, MetricsAcc, Sim, run_with};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario files (TOML).
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// `all` (every policy), or a comma-separated list such as
    /// `baseline,merged,sb-context+io-flusher`.
    #[arg(long, default_value = "all")]
    policy: String,
    /// Output format.
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

/// One scenario under one policy.
#[derive(Serialize)]
struct Cell {
    scenario: String,
    policy: String,
    /// `deadlock`, `livelock`, `safe` or `inconclusive` (exhaustive check).
    verdict: &'static str,
    states: u64,
    /// Length of the shortest deadlock trace, when there is one.
    trace_steps: Option<usize>,
    /// Seeded runs that ended in deadlock or stuck, out of `runs`.
    runs: u64,
    runs_blocked: u64,
    metrics: Metrics,
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
            cells.push(cell(&sim, sc.name(), *p, &args, max_memory));
        }
    }
    if tty {
        eprint!("\r\x1b[2K");
    }
    let out = match args.format.as_str() {
        "json" => {
            serde_json::to_string_pretty(&cells).map_err(|e| InputError(e.to_string()))? + "\n"
        }
        "html" => html(&cells),
        _ => markdown(&cells),
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
    for seed in 0..args.seeds {
        let r = run_with(sim, seed, args.max_steps, &mut acc);
        if r.reason.is_some() || !r.blocked.is_empty() {
            blocked += 1;
        }
    }
    Cell {
        scenario: scenario.to_string(),
        policy: name,
        verdict: outcome.verdict,
        states: outcome.states,
        trace_steps: (outcome.verdict == "deadlock").then_some(outcome.trace.len()),
        runs: args.seeds,
        runs_blocked: blocked,
        metrics: acc.finish(sim),
    }
}

/// Simulated time tasks spent waiting on locks, all locks summed (seed
/// 002's dm_bufio_lock contention shows here).
fn lock_wait(m: &Metrics) -> u64 {
    m.lock_wait.iter().map(|l| l.time).sum()
}

/// Direct-reclaim success, or `-` when no allocation entered direct reclaim.
fn success(m: &Metrics) -> String {
    if m.direct_reclaim_rounds == 0 {
        "-".into()
    } else {
        format!("{:.0}%", m.direct_reclaim_success_rate * 100.0)
    }
}

fn markdown(cells: &[Cell]) -> String {
    let mut out = String::new();
    let mut last = "";
    for c in cells {
        if c.scenario != last {
            if !last.is_empty() {
                out.push('\n');
            }
            last = &c.scenario;
            let _ = writeln!(out, "## {}\n", c.scenario);
            let _ = writeln!(
                out,
                "| policy | verdict | states | runs blocked | reach (pages/round) | reclaim success | -ENOMEM | alloc failures | OOM kills | lock wait |"
            );
            let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        }
        let verdict = match c.trace_steps {
            Some(n) => format!("**deadlock** ({n} steps)"),
            None => c.verdict.to_string(),
        };
        let m = &c.metrics;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} | {:.1} | {} | {} | {} | {} | {} |",
            c.policy,
            verdict,
            c.states,
            c.runs_blocked,
            c.runs,
            m.reach_mean,
            success(m),
            m.enomem,
            m.alloc_failures,
            m.oom_kills,
            lock_wait(m),
        );
    }
    out
}

fn html(cells: &[Cell]) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>reclaimscope compare</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.deadlock{background:#fdd}.safe{background:#dfd}.inconclusive,.livelock{background:#ffd}</style></head><body>\n<h1>reclaimscope compare</h1>\n",
    );
    let mut scenarios: Vec<&str> = cells.iter().map(|c| c.scenario.as_str()).collect();
    scenarios.dedup();
    for s in scenarios {
        let rows: Vec<&Cell> = cells.iter().filter(|c| c.scenario == s).collect();
        let _ = writeln!(out, "<h2>{}</h2>", escape(s));
        out.push_str(&svg_reach(&rows));
        out.push_str("<table><tr><th>policy</th><th>verdict</th><th>states</th><th>reach (pages/round)</th><th>reclaim success</th><th>-ENOMEM</th></tr>\n");
        for c in rows {
            let _ = writeln!(
                out,
                "<tr class=\"{v}\"><td>{p}</td><td>{v}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
                c.states,
                c.metrics.reach_mean,
                success(&c.metrics),
                c.metrics.enomem,
                p = escape(&c.policy),
                v = c.verdict,
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Horizontal bars of reclaim reach, one per policy, coloured by verdict.
fn svg_reach(rows: &[&Cell]) -> String {
    let max = rows
        .iter()
        .map(|c| c.metrics.reach_mean)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let (bar_h, label_w, width) = (18, 150, 420.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-size=\"12\">\n",
        label_w + width as usize + 60,
        rows.len() * (bar_h + 4) + 4
    );
    for (i, c) in rows.iter().enumerate() {
        let y = i * (bar_h + 4) + 2;
        let w = c.metrics.reach_mean / max * width;
        let color = match c.verdict {
            "deadlock" => "#d55",
            "safe" => "#5a5",
            _ => "#cc5",
        };
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{ty}\">{p}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{color}\"/><text x=\"{tx:.1}\" y=\"{ty}\">{r:.1}</text>",
            ty = y + 13,
            p = escape(&c.policy),
            tx = label_w as f64 + w + 4.0,
            r = c.metrics.reach_mean,
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
