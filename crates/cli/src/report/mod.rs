//! The `compare` report: one cell per (scenario, policy), rendered as the
//! page a developer links in a mailing-list reply (`html`, with inline SVG
//! sequence diagrams and charts) or as 80-column text (`md`).

pub mod html;
pub mod md;
pub mod svg;

use reclaimscope_check::sim_model::{CycleEdge, Provenance, TraceLine};
use reclaimscope_sim::Metrics;
use serde::Serialize;

/// One scenario under one policy.
#[derive(Serialize)]
pub struct Cell {
    pub scenario: String,
    pub policy: String,
    /// `deadlock`, `livelock`, `safe` or `inconclusive`: the exhaustive
    /// check's verdict, or `deadlock` when a seeded run reached one.
    pub verdict: &'static str,
    /// For a deadlock: `check` (the shortest, from the exhaustive search)
    /// or `run` (a seeded run reached it; the search hit a bound first).
    pub found_by: Option<&'static str>,
    /// For a deadlock found by a run: the seed that reaches it.
    pub seed: Option<u64>,
    /// The bound the exhaustive check hit, if any.
    pub bound: Option<&'static str>,
    pub states: u64,
    /// Length of the shortest deadlock trace, when the check found one.
    pub trace_steps: Option<usize>,
    /// Seeded runs that ended in deadlock or stuck, out of `runs`.
    pub runs: u64,
    pub runs_blocked: u64,
    pub metrics: Metrics,
    /// For a deadlock: its steps (from the check, or the run's steps that
    /// touch the tasks of its cycle).
    pub trace: Vec<TraceLine>,
    pub cycle: Option<String>,
    pub cycle_edges: Vec<CycleEdge>,
    pub blocked: Vec<String>,
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// What produced the report, printed at its top.
pub struct Meta {
    pub command_line: String,
    pub provenance: Provenance,
    pub seeds: u64,
    pub max_steps: u64,
    pub max_states: u64,
    pub time_limit: f64,
}

/// Simulated time tasks spent waiting on locks, all locks summed (dm-bufio's
/// lock held across reclaim shows here: "Re: dm bufio: Reduce
/// dm_bufio_lock contention", 2018-06-18).
pub fn lock_wait(m: &Metrics) -> u64 {
    m.lock_wait.iter().map(|l| l.time).sum()
}

/// Direct-reclaim success (rounds that freed at least one page), or `-`
/// when no allocation entered direct reclaim.
pub fn success(m: &Metrics) -> String {
    if m.direct_reclaim_rounds == 0 {
        "-".into()
    } else {
        format!("{:.0}%", m.direct_reclaim_success_rate * 100.0)
    }
}

/// Scenario names in first-seen order.
pub fn scenarios(cells: &[Cell]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in cells {
        if !out.contains(&c.scenario.as_str()) {
            out.push(&c.scenario);
        }
    }
    out
}

/// Policy names in first-seen order.
pub fn policies(cells: &[Cell]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in cells {
        if !out.contains(&c.policy.as_str()) {
            out.push(&c.policy);
        }
    }
    out
}

/// The cell of a scenario under a policy.
pub fn find<'a>(cells: &'a [Cell], scenario: &str, policy: &str) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|c| c.scenario == scenario && c.policy == policy)
}

/// What "reach" and "reclaim success" mean, said once for every format.
pub const REACH_MEANS: &str = "mean pages that the sources direct reclaim may touch from the allocating context could free, per direct-reclaim round (higher: reclaim has more to work with)";
pub const SUCCESS_MEANS: &str = "share of direct-reclaim rounds that freed at least one page";
