//! `compare --format md`: plain text that survives a mailing-list reply.
//! Every line fits 80 columns (the list convention); the verdict matrix
//! comes first, then one metrics table per scenario, then each distinct
//! deadlock trace once, with the policies that share it.

use super::{Cell, Meta, find, lock_wait, policies, scenarios, success};
use std::fmt::Write as _;

/// Columns of text a line may use.
pub const WIDTH: usize = 80;

/// The matrix word of a cell: `D4` (deadlock, shortest trace 4 steps),
/// `Dr` (a seeded run reached a deadlock), `L`, `safe`, `?`.
pub fn short(c: &Cell) -> String {
    match (c.verdict, c.found_by, c.trace_steps) {
        ("deadlock", Some("run"), _) => "Dr".into(),
        ("deadlock", _, Some(n)) => format!("D{n}"),
        ("deadlock", _, None) => "D".into(),
        ("livelock", ..) => "L".into(),
        ("safe", ..) => "safe".into(),
        _ => "?".into(),
    }
}

pub fn page(meta: &Meta, cells: &[Cell]) -> String {
    let mut out = String::new();
    let scen = scenarios(cells);
    let pols = policies(cells);
    let _ = writeln!(
        out,
        "# reclaimscope compare: {} scenarios x {} policies\n",
        scen.len(),
        pols.len()
    );
    out.push_str("```\n");
    let p = &meta.provenance;
    wrap_into(&mut out, &format!("command: {}", meta.command_line), "  ");
    wrap_into(
        &mut out,
        &format!(
            "kernel: {}; --set: {}; {}",
            p.kernel.as_deref().unwrap_or("as each scenario file says"),
            if p.set.is_empty() {
                "none".to_string()
            } else {
                p.set.join(" ")
            },
            p.tool_version
        ),
        "  ",
    );
    wrap_into(
        &mut out,
        &format!(
            "per cell: one exhaustive check (--max-states {}, --time-limit {}s) and {} seeded runs (--max-steps {})",
            meta.max_states, meta.time_limit, meta.seeds, meta.max_steps
        ),
        "  ",
    );
    out.push_str("```\n\n## Verdicts\n\n```\n");
    matrix(&mut out, &scen, &pols, cells);
    out.push('\n');
    for line in [
        "Dn   deadlock, shortest trace n steps (exhaustive check)",
        "Dr   deadlock reached by a seeded run (the check hit a bound first)",
        "L    livelock        safe  no reachable deadlock",
        "?    inconclusive: a bound stopped the check and no run deadlocked",
    ] {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    for (i, s) in scen.iter().enumerate() {
        wrap_into(&mut out, &format!("{:>2} {s}", i + 1), "   ");
    }
    out.push_str("```\n");
    for s in &scen {
        let rows: Vec<&Cell> = cells.iter().filter(|c| c.scenario == *s).collect();
        let _ = writeln!(out, "\n## {s}\n\n```");
        metrics_table(&mut out, &rows);
        out.push_str("```\n");
        traces(&mut out, &rows);
    }
    out.push_str("\nColumns of the tables:\n\n```\n");
    for (key, what) in [
        ("verdict", "as in the matrix"),
        ("states", "distinct states the exhaustive check stored"),
        (
            "blocked",
            "seeded runs that ended deadlocked or stuck, of all runs",
        ),
        ("reach", super::REACH_MEANS),
        ("succ", super::SUCCESS_MEANS),
        ("ENOMEM", "operations that failed with -ENOMEM"),
        ("NULL", "allocations that returned NULL"),
        ("OOM", "OOM kills"),
        (
            "lockwait",
            "simulated time tasks waited on locks, summed (a step costs 1, a reclaim pass 20, a disk I/O 50)",
        ),
    ] {
        wrap_into(&mut out, &format!("{key:<9} {what}"), "          ");
    }
    out.push_str("```\n");
    out
}

/// The policy x scenario matrix, split into several blocks of columns when
/// the scenarios do not fit one.
fn matrix(out: &mut String, scen: &[&str], pols: &[&str], cells: &[Cell]) {
    let pw = pols.iter().map(|p| p.len()).max().unwrap_or(6).max(6);
    let cw = 4;
    let per = ((WIDTH - pw) / (cw + 2)).max(1);
    let idx: Vec<usize> = (0..scen.len()).collect();
    for (b, chunk) in idx.chunks(per).enumerate() {
        if b > 0 {
            out.push('\n');
        }
        let mut head = format!("{:<pw$}", "policy");
        for &i in chunk {
            let _ = write!(head, "  {:>cw$}", i + 1);
        }
        let _ = writeln!(out, "{}", head.trim_end());
        for p in pols {
            let mut line = format!("{p:<pw$}");
            for &i in chunk {
                let word = find(cells, scen[i], p).map_or("-".into(), short);
                let _ = write!(line, "  {word:>cw$}");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}

fn metrics_table(out: &mut String, rows: &[&Cell]) {
    let pw = rows
        .iter()
        .map(|c| c.policy.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let cols = [
        "verdict", "states", "blocked", "reach", "succ", "ENOMEM", "NULL", "OOM", "lockwait",
    ];
    let data: Vec<[String; 9]> = rows
        .iter()
        .map(|c| {
            let m = &c.metrics;
            [
                short(c),
                c.states.to_string(),
                format!("{}/{}", c.runs_blocked, c.runs),
                format!("{:.1}", m.reach_mean),
                success(m),
                m.enomem.to_string(),
                m.alloc_failures.to_string(),
                m.oom_kills.to_string(),
                lock_wait(m).to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..cols.len())
        .map(|i| {
            data.iter()
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
                .max(cols[i].len())
        })
        .collect();
    // Narrow the gap between columns before anything would pass 80.
    let total = |gap: usize| pw + widths.iter().map(|w| w + gap).sum::<usize>();
    let gap = if total(2) <= WIDTH { 2 } else { 1 };
    let mut head = format!("{:<pw$}", "policy");
    for (c, w) in cols.iter().zip(&widths) {
        let _ = write!(head, "{:gap$}{c:>w$}", "");
    }
    let _ = writeln!(out, "{head}");
    for (c, r) in rows.iter().zip(&data) {
        let mut line = format!("{:<pw$}", c.policy);
        for (v, w) in r.iter().zip(&widths) {
            let _ = write!(line, "{:gap$}{v:>w$}", "");
        }
        let _ = writeln!(out, "{line}");
    }
}

/// Each distinct deadlock story once, naming every policy that shares it.
fn traces(out: &mut String, rows: &[&Cell]) {
    let mut seen: Vec<(Vec<String>, Vec<&str>, &Cell)> = Vec::new();
    for c in rows.iter().filter(|c| c.verdict == "deadlock") {
        // A run-found trace is told with its seed: group only equal seeds.
        let mut key: Vec<String> = c.trace.iter().map(|l| l.description.clone()).collect();
        key.push(format!("{:?} {:?}", c.found_by, c.seed));
        match seen.iter_mut().find(|(k, ..)| *k == key) {
            Some((_, pols, _)) => pols.push(&c.policy),
            None => seen.push((key, vec![&c.policy], c)),
        }
    }
    for (_, pols, c) in seen {
        out.push('\n');
        let how = match (c.found_by, c.seed) {
            (Some("run"), Some(seed)) => format!("reached by seeded run {seed}"),
            _ => format!("shortest trace, {} steps", c.trace.len()),
        };
        wrap_into(
            out,
            &format!("Deadlock under {} ({how}):", pols.join(", ")),
            "  ",
        );
        out.push_str("\n```\n");
        let w = c.trace.last().map_or(1, |l| l.step.to_string().len());
        for l in &c.trace {
            let indent = " ".repeat(w + 4);
            wrap_into(
                out,
                &format!("  {:>w$}. {}", l.step, l.description),
                &indent,
            );
        }
        if let Some(cy) = &c.cycle {
            wrap_into(out, &format!("wait-for cycle: {cy}"), "  ");
        }
        for b in &c.blocked {
            wrap_into(out, &format!("blocked: {b}"), "  ");
        }
        out.push_str("```\n");
    }
}

/// Append `text` word-wrapped at [`WIDTH`], continuation lines indented;
/// leading spaces of `text` are kept. A word longer than a line (a long
/// path) is cut, so no line ever passes [`WIDTH`].
pub fn wrap_into(out: &mut String, text: &str, indent: &str) {
    let body = text.trim_start_matches(' ');
    let mut line = text[..text.len() - body.len()].to_string();
    let mut fresh = true;
    for word in body.split(' ') {
        // Runs of spaces inside a line are kept (aligned columns), not at
        // the start of a continuation line.
        if word.is_empty() && fresh && line.len() >= indent.len() && !line.trim().is_empty() {
            continue;
        }
        let mut word: String = word.to_string();
        loop {
            let used = line.chars().count() + usize::from(!fresh);
            let len = word.chars().count();
            if used + len <= WIDTH {
                if !fresh {
                    line.push(' ');
                }
                line.push_str(&word);
                fresh = false;
                break;
            }
            if !fresh {
                let _ = writeln!(out, "{}", line.trim_end());
                line = indent.to_string();
                fresh = true;
                continue;
            }
            // Too long even for a fresh line: cut what fits, carry the rest.
            let room = WIDTH.saturating_sub(line.chars().count()).max(1);
            line.extend(word.chars().take(room));
            word = word.chars().skip(room).collect();
            let _ = writeln!(out, "{}", line.trim_end());
            line = indent.to_string();
        }
    }
    let _ = writeln!(out, "{}", line.trim_end());
}
