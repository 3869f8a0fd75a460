//! `reclaimscope check`: explore every interleaving and reclaim choice of a
//! scenario; print `safe`, the shortest deadlock as a numbered story, a
//! livelock, or `inconclusive` when a bound stopped the search.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::diag::InputError;
use crate::membudget::{self, MemoryBudget};
use reclaimscope_check::checker::{Bounds, Options, Progress};
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
    /// Set the history-dependent parameters to what kernel X.Y[.Z] did
    /// (dm-bufio gate, loop worker NOIO, vmalloc page tables, dm-bufio
    /// allocation, PR_SET_IO_FLUSHER); a `uname -r` string works. Several
    /// (`4.19,5.4,6.1`) or `lts`: one verdict per release and the history
    /// fact that changes it.
    #[arg(long, value_name = "X.Y")]
    kernel: Option<String>,
    /// Stop (inconclusive) after storing this many distinct states.
    #[arg(long, value_name = "N")]
    max_states: Option<u64>,
    /// Stop (inconclusive) before the process would hold more memory, e.g.
    /// 512M. Default: half of the available memory (MemAvailable, or the
    /// cgroup's room if smaller). Policies checked at once share it.
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
    /// No partial-order reduction (independent steps explored in every order).
    #[arg(long)]
    no_por: bool,
    /// No symmetry reduction (interchangeable tasks and device subtrees kept apart).
    #[arg(long)]
    no_symmetry: bool,
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

/// Bounds other than memory; the memory bound is set per search from the
/// [`MemoryBudget`].
fn bounds(args: &Args) -> Result<Bounds, InputError> {
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
        max_memory: None,
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
    let releases = crate::kernels::releases(args.kernel.as_deref())?;
    let single = if releases.is_some() {
        None
    } else {
        args.kernel.as_deref()
    };
    // `--system`: probe once; a release list checks that one stack on
    // each release (kernels::series_of), one release or none applies it.
    let mut probed = None;
    let scenario = match &args.scenario {
        Some(path) => crate::load::scenario(path, single, &args.set)?,
        None => {
            let (base, running) = crate::cmd::probe::system_base()?;
            let k = single.map(str::to_string).or(running);
            probed = releases.is_some().then(|| base.clone());
            crate::cmd::probe::at_kernel(base, k, &args.set)?
        }
    };
    let policies = policies(&args, &scenario)?;
    let bounds = bounds(&args)?;
    let budget = MemoryBudget::resolve(args.max_memory.as_deref())?;
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
    let mut opts = Options {
        threads,
        por: !(args.no_reduce || args.no_por),
        symmetry: !(args.no_reduce || args.no_symmetry),
        bounds,
        progress: Some(&show),
    };
    let plan = Plan {
        livelock: !args.no_livelock,
    };
    if let Some(releases) = releases {
        // Each release reloads the file (or re-applies history to the
        // probed stack) with its history applied.
        let mut all = Vec::new();
        for policy in &policies {
            if let Some(bar) = &bar {
                bar.set_prefix(policy.to_string());
            }
            all.push(match (&probed, &args.scenario) {
                (Some(base), _) => {
                    crate::kernels::series_of(base, &releases, &args.set, *policy, &opts, plan)?
                }
                (None, Some(path)) => {
                    crate::kernels::series(path, &releases, &args.set, *policy, &opts, plan)?
                }
                (None, None) => {
                    return Err(InputError("error: no scenario and no --system".into()));
                }
            });
        }
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        if args.json {
            let text = serde_json::to_string_pretty(&all)
                .map_err(|e| InputError(format!("error: {e}")))?;
            println!("{text}");
        } else {
            print!("{}", crate::kernels::render_text(&all));
        }
        return Ok(crate::kernels::exit_code(&all));
    }
    let mut outcomes = Vec::new();
    for policy in &policies {
        let sim = Sim::new(&scenario, policy).map_err(|e| InputError(e.to_string()))?;
        // Policies are checked one after the other: each search gets the
        // whole bound, and the previous one's memory goes back first.
        membudget::release_freed_memory();
        opts.bounds.max_memory = budget.map(|b| b.per_search(1));
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
    for o in &mut outcomes {
        o.provenance = crate::load::provenance(args.kernel.as_deref(), &args.set);
    }
    print(&args, &outcomes, budget.as_ref())?;
    Ok(exit_code(&outcomes))
}

fn print(
    args: &Args,
    outcomes: &[Outcome],
    budget: Option<&MemoryBudget>,
) -> Result<(), InputError> {
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
        print!("{}", membudget::name_bound_in(&one.render_text(), budget));
    } else {
        for o in outcomes {
            println!("{}", membudget::name_bound_in(&o.headline(), budget));
        }
    }
    Ok(())
}
