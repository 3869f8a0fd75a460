//! `reclaimscope check`: explore every interleaving and reclaim choice of a
//! scenario; print `safe`, the shortest deadlock as a numbered story, a
//! livelock, or `inconclusive` when a bound stopped the search.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::diag::InputError;
use reclaimscope_check::checker::{Bounds, Options, Progress, parse_size};
use reclaimscope_check::sim_model::{Outcome, Plan, check_sim};
use reclaimscope_model::Policy;
use reclaimscope_sim::{Scenario, Sim};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario file (TOML).
    #[arg(required_unless_present = "system", conflicts_with = "system")]
    scenario: Option<PathBuf>,
    /// Check this machine's storage stack: `probe` then `check`, with
    /// `--kernel` defaulting to the running kernel's release.
    #[arg(long)]
    system: bool,
    /// Policy, e.g. `merged` or `baseline+io-flusher`; `all` checks every
    /// policy and prints one line each. Default: the scenario's policies.
    #[arg(long)]
    policy: Option<String>,
    /// Override a scenario parameter (repeatable), e.g. `bufio.gate=fs`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Set the history-dependent parameters to what kernel X.Y did (dm-bufio
    /// gate, loop worker NOIO, vmalloc page tables, dm-bufio allocation).
    #[arg(long, value_name = "X.Y")]
    kernel: Option<String>,
    /// Stop (inconclusive) after storing this many distinct states.
    #[arg(long, value_name = "N")]
    max_states: Option<u64>,
    /// Stop (inconclusive) before the search would hold more memory, e.g. 512M.
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<String>,
    /// Stop (inconclusive) after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Explore every interleaving: no partial-order or symmetry reduction.
    #[arg(long)]
    no_reduce: bool,
    /// Skip the livelock (spinning retry loop) search.
    #[arg(long)]
    no_livelock: bool,
    /// Print JSON: one object, or an array of objects with `--policy all`.
    #[arg(long)]
    json: bool,
}

fn policies(args: &Args, scenario: &Scenario) -> Result<Vec<Policy>, InputError> {
    match args.policy.as_deref() {
        Some("all") => Ok(Policy::all()),
        Some(p) => {
            Ok(vec![Policy::parse(p).map_err(|e| {
                InputError(format!("error: --policy: {e}"))
            })?])
        }
        None if scenario.policies().is_empty() => Ok(vec![Policy::BASELINE]),
        None => Ok(scenario.policies().to_vec()),
    }
}

fn bounds(args: &Args) -> Result<Bounds, InputError> {
    let max_memory = match &args.max_memory {
        Some(s) => {
            Some(parse_size(s).map_err(|e| InputError(format!("error: --max-memory: {e}")))?)
        }
        None => None,
    };
    let time_limit = match args.time_limit {
        Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            return Err(InputError(format!(
                "error: --time-limit {t}: must be a non-negative number of seconds"
            )));
        }
        None => None,
    };
    Ok(Bounds {
        max_states: args.max_states,
        max_memory,
        time_limit,
    })
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

/// Exit code for a set of outcomes: a bug anywhere wins, then inconclusive.
fn exit_code(outcomes: &[Outcome]) -> u8 {
    if outcomes
        .iter()
        .any(|o| matches!(o.verdict, "deadlock" | "livelock"))
    {
        1
    } else if outcomes.iter().any(|o| o.verdict == "inconclusive") {
        3
    } else {
        0
    }
}

pub fn run(args: Args) -> Result<u8, InputError> {
    let scenario = match &args.scenario {
        Some(path) => crate::load::scenario(path, args.kernel.as_deref(), &args.set)?,
        None => crate::cmd::probe::system_scenario(args.kernel.as_deref(), &args.set)?,
    };
    let policies = policies(&args, &scenario)?;
    let bounds = bounds(&args)?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    if threads == 0 {
        return Err(InputError("error: --threads must be at least 1".into()));
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let show = |p: &Progress| {
        if let Some(bar) = &bar {
            let rate = p.states as f64 / p.elapsed.as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{} states ({:.0}/s), depth {}, queue {}, {}",
                p.states,
                rate,
                p.depth,
                p.queue,
                human_bytes(p.memory)
            ));
        }
    };
    let opts = Options {
        threads,
        por: !args.no_reduce,
        symmetry: !args.no_reduce,
        bounds,
        progress: Some(&show),
    };
    let plan = Plan {
        livelock: !args.no_livelock,
    };
    let mut outcomes = Vec::new();
    for policy in &policies {
        let sim = Sim::new(&scenario, policy).map_err(|e| InputError(e.to_string()))?;
        if let Some(bar) = &bar {
            bar.set_prefix(policy.to_string());
        }
        outcomes.push(check_sim(
            &sim,
            scenario.name(),
            &policy.to_string(),
            &opts,
            plan,
        ));
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    print(&args, &outcomes)?;
    Ok(exit_code(&outcomes))
}

fn print(args: &Args, outcomes: &[Outcome]) -> Result<(), InputError> {
    let all = args.policy.as_deref() == Some("all");
    if args.json {
        let text = match outcomes {
            [one] if !all => serde_json::to_string_pretty(one),
            many => serde_json::to_string_pretty(many),
        };
        println!("{}", text.map_err(|e| InputError(format!("error: {e}")))?);
    } else if let [one] = outcomes
        && !all
    {
        print!("{}", one.render_text());
    } else {
        for o in outcomes {
            println!("{}", o.headline());
        }
    }
    Ok(())
}
