//! `--kernel` with several releases (`4.19,5.4,6.1` or `lts`) for `check`
//! and `compare`: one verdict per release, oldest first, and for every
//! change between two neighbouring releases the history fact that makes it
//! (`model::history::FACTS`), found by flipping each differing fact alone.

use crate::diag::{InputError, render};
use crate::load;
use reclaimscope_check::checker::Options;
use reclaimscope_check::sim_model::{Outcome, Plan, check_sim};
use reclaimscope_model::Policy;
use reclaimscope_model::history::{self, Fact, KernelParams, LTS, Release};
use reclaimscope_sim::{Scenario, Sim};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// The releases of a `--kernel` list, oldest first; `None` for a single
/// release (or none), which the ordinary path handles.
pub fn releases(spec: Option<&str>) -> Result<Option<Vec<Release>>, InputError> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    let mut out = Vec::new();
    if spec.trim() == "lts" {
        for v in LTS {
            out.push(Release::parse(&v.to_string()).map_err(InputError)?);
        }
        return Ok(Some(out));
    }
    if !spec.contains(',') {
        return Ok(None);
    }
    let mut at = 0;
    for part in spec.split(',') {
        let r = Release::parse(part)
            .map_err(|m| InputError(render("--kernel", spec, at..at + part.len().max(1), &m)))?;
        out.push(r);
        at += part.len() + 1;
    }
    out.sort_by_key(|r| r.version);
    Ok(Some(out))
}

/// The scenario as `release` (or `params`) has it, then the `--set`s.
fn at_release(
    base: &Scenario,
    release: &Release,
    params: Option<&KernelParams>,
    sets: &[String],
) -> Result<Scenario, InputError> {
    let mut sc = base.clone();
    match params {
        Some(p) => sc.apply_kernel_params(p),
        None => sc.apply_kernel(release),
    }
    for kv in sets {
        sc.apply_overrides(None, std::slice::from_ref(kv))
            .map_err(|e| load::scenario_error(kv, &e))?;
    }
    Ok(sc)
}

fn check(sc: &Scenario, policy: Policy, opts: &Options, plan: Plan) -> Result<Outcome, InputError> {
    let sim = Sim::new(sc, &policy).map_err(|e| InputError(e.to_string()))?;
    Ok(check_sim(&sim, sc.name(), &policy.to_string(), opts, plan))
}

/// A history fact named in output.
#[derive(Serialize, Clone)]
pub struct FactRef {
    pub fact: history::FactId,
    pub what: &'static str,
    pub commit: &'static str,
    pub file: &'static str,
    pub since: String,
    pub stable: Vec<String>,
}

impl FactRef {
    fn of(f: &Fact) -> FactRef {
        FactRef {
            fact: f.id,
            what: f.what,
            commit: f.commit,
            file: f.file,
            since: f.since.to_string(),
            stable: f.stable.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn text(&self) -> String {
        let mut s = format!(
            "{} ({}, {}, v{}",
            self.what, self.commit, self.file, self.since
        );
        if !self.stable.is_empty() {
            let _ = write!(s, "; stable {}", self.stable.join(", "));
        }
        s.push(')');
        s
    }
}

/// One release's verdict.
#[derive(Serialize)]
pub struct Row {
    pub kernel: String,
    pub notes: Vec<String>,
    /// The verdict differs from the previous release's: the facts that
    /// flip it alone (or, when none does alone, every fact that differs).
    pub flipped_by: Vec<FactRef>,
    /// `flipped_by` holds facts that change the verdict only together.
    pub together: bool,
    pub outcome: Outcome,
}

/// One scenario under one policy across releases.
#[derive(Serialize)]
pub struct Series {
    pub scenario: String,
    pub policy: String,
    pub releases: Vec<Row>,
}

/// Check `path` under `policy` at every release, naming what flips each change.
pub fn series(
    path: &Path,
    releases: &[Release],
    sets: &[String],
    policy: Policy,
    opts: &Options,
    plan: Plan,
) -> Result<Series, InputError> {
    let base = load::scenario(path, None, &[])?;
    series_of(&base, releases, sets, policy, opts, plan)
}

/// [`series`] of a scenario already loaded with no release applied (the
/// probed machine of `check --system`).
pub fn series_of(
    base: &Scenario,
    releases: &[Release],
    sets: &[String],
    policy: Policy,
    opts: &Options,
    plan: Plan,
) -> Result<Series, InputError> {
    let mut rows: Vec<Row> = Vec::new();
    for r in releases {
        let sc = at_release(base, r, None, sets)?;
        let outcome = check(&sc, policy, opts, plan)?;
        let mut row = Row {
            kernel: r.text.clone(),
            notes: sc.notes.clone(),
            flipped_by: Vec::new(),
            together: false,
            outcome,
        };
        if let Some(prev) = rows.last()
            && prev.outcome.verdict != row.outcome.verdict
        {
            let a = Release::parse(&prev.kernel).map_err(InputError)?;
            let between = history::facts_between(a.version, r.version);
            for f in &between {
                let p = KernelParams::with(a.version, |id| {
                    if id == f.id {
                        f.in_release(r.version)
                    } else {
                        history::has(id, a.version)
                    }
                });
                let flipped = at_release(base, &a, Some(&p), sets)?;
                if check(&flipped, policy, opts, plan)?.verdict == row.outcome.verdict {
                    row.flipped_by.push(FactRef::of(f));
                }
            }
            if row.flipped_by.is_empty() {
                row.together = true;
                row.flipped_by = between.iter().map(|f| FactRef::of(f)).collect();
            }
        }
        rows.push(row);
    }
    Ok(Series {
        scenario: base.name().to_string(),
        policy: policy.to_string(),
        releases: rows,
    })
}

/// The verdict part of a headline (after `name [policy]: `).
fn verdict_text(o: &Outcome) -> String {
    let h = o.headline();
    h.split_once("]: ")
        .map_or(h.clone(), |(_, v)| v.to_string())
}

fn flip_text(row: &Row) -> Option<String> {
    if row.flipped_by.is_empty() {
        return row.together.then(|| "no history fact differs".into());
    }
    let facts: Vec<String> = row.flipped_by.iter().map(FactRef::text).collect();
    Some(if row.together {
        format!("these together: {}", facts.join("; "))
    } else {
        facts.join("; ")
    })
}

/// `check --kernel LIST`: one line per release and what changed it.
pub fn render_text(all: &[Series]) -> String {
    let mut out = String::new();
    for s in all {
        let _ = writeln!(out, "{} [{}] by kernel release:", s.scenario, s.policy);
        let width = s.releases.iter().map(|r| r.kernel.len()).max().unwrap_or(0);
        for r in &s.releases {
            let _ = writeln!(out, "  {:<width$}  {}", r.kernel, verdict_text(&r.outcome));
            if let Some(f) = flip_text(r) {
                let _ = writeln!(out, "  {:<width$}    changed by: {f}", "");
            }
            for n in &r.notes {
                let _ = writeln!(out, "  {:<width$}    note: {n}", "");
            }
        }
    }
    out
}

/// `compare --kernel LIST`: a table, one row per scenario and policy, one
/// column per release, and a numbered list of what flips each change.
pub fn render_markdown(all: &[Series]) -> String {
    let mut out = String::new();
    let Some(first) = all.first() else {
        return out;
    };
    let kernels: Vec<&str> = first.releases.iter().map(|r| r.kernel.as_str()).collect();
    let _ = writeln!(out, "| scenario | policy | {} |", kernels.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(kernels.len()));
    let mut notes: Vec<String> = Vec::new();
    for s in all {
        let mut cells = Vec::new();
        let mut prev: Option<&str> = None;
        for r in &s.releases {
            let mut cell = r.outcome.verdict.to_string();
            if r.outcome.verdict == "deadlock" {
                cell = format!("**{cell}**");
            }
            if let (Some(p), Some(f)) = (prev, flip_text(r)) {
                notes.push(format!(
                    "{} [{}], {p} → {}: {f}",
                    s.scenario, s.policy, r.kernel
                ));
                let _ = write!(cell, " [{}]", notes.len());
            }
            prev = Some(r.kernel.as_str());
            cells.push(cell);
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            s.scenario,
            s.policy,
            cells.join(" | ")
        );
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(out, "{}. {n}", i + 1);
        }
    }
    out
}

/// Exit code over every release: a bug anywhere wins, then inconclusive.
pub fn exit_code(all: &[Series]) -> u8 {
    let verdicts = || {
        all.iter()
            .flat_map(|s| s.releases.iter().map(|r| r.outcome.verdict))
    };
    if verdicts().any(|v| matches!(v, "deadlock" | "livelock")) {
        1
    } else if verdicts().any(|v| v == "inconclusive") {
        3
    } else {
        0
    }
}
