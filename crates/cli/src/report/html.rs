//! `compare --format html`: one self-contained page (inline CSS and SVG, no
//! scripts, fonts or network) to link in a mailing-list reply: what produced
//! it, the verdict matrix at the top with each cell linking to its detail,
//! then per scenario charts, every metric, and for each deadlocking cell its
//! trace as a sequence diagram plus the numbered story.

use super::svg::{bars, colour, esc, sequence};
use super::{Cell, Meta, lock_wait, policies, scenarios, success};
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em 2em;color:#222;max-width:1400px}\
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:3px 8px}\
th{background:#f0f0f0}td.num{text-align:right}\
table.matrix td{text-align:center;font-weight:bold;white-space:nowrap}table.matrix td a{color:#fff;text-decoration:none;display:block}\
td.deadlock{background:#d9534f}td.deadlock a{color:#fff}td.livelock{background:#e08e0b}td.safe{background:#4cae4c}td.inconclusive{background:#c8b400}\
dl.meta{display:grid;grid-template-columns:max-content auto;gap:2px 1em}dl.meta dt{font-weight:bold}dl.meta dd{margin:0}\
code,pre{background:#f6f6f6;padding:1px 3px}.legend span.sw{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}\
.detail{border-left:4px solid #d9534f;padding-left:1em;margin:1.5em 0}.detail svg{display:block;margin:.5em 0;max-width:100%;height:auto}\
.charts svg{margin-right:2em;vertical-align:top}.cycle{color:#c00;font-weight:bold}";

pub fn page(meta: &Meta, cells: &[Cell]) -> String {
    let scen = scenarios(cells);
    let pols = policies(cells);
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>reclaimscope compare: {} scenarios x {} policies</title>\n<style>{STYLE}</style></head><body>\n",
        scen.len(),
        pols.len()
    );
    let _ = writeln!(
        o,
        "<h1>reclaimscope compare: {} scenarios &times; {} policies</h1>",
        scen.len(),
        pols.len()
    );
    provenance(&mut o, meta);
    matrix(&mut o, &scen, &pols, cells);
    for (si, s) in scen.iter().enumerate() {
        let rows: Vec<(usize, &Cell)> = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.scenario == *s)
            .collect();
        scenario(&mut o, si, s, &rows);
    }
    o.push_str("</body></html>\n");
    o
}

fn provenance(o: &mut String, meta: &Meta) {
    let p = &meta.provenance;
    let _ = writeln!(
        o,
        "<dl class=\"meta\"><dt>command</dt><dd><code id=\"command-line\">{}</code></dd><dt>kernel</dt><dd id=\"kernel\">{}</dd><dt>--set</dt><dd id=\"set\">{}</dd><dt>tool</dt><dd id=\"tool-version\">{}</dd><dt>per cell</dt><dd>one exhaustive check (--max-states {}, --time-limit {} s) and {} seeded runs (seeds 0 to {}, --max-steps {})</dd></dl>",
        esc(&meta.command_line),
        esc(p
            .kernel
            .as_deref()
            .unwrap_or("as each scenario file says (no --kernel)")),
        if p.set.is_empty() {
            "none".to_string()
        } else {
            p.set
                .iter()
                .map(|s| format!("<code>{}</code>", esc(s)))
                .collect::<Vec<_>>()
                .join(" ")
        },
        esc(&p.tool_version),
        meta.max_states,
        meta.time_limit,
        meta.seeds,
        meta.seeds.saturating_sub(1),
        meta.max_steps
    );
}

/// The word in a matrix cell.
fn cell_word(c: &Cell) -> String {
    match (c.verdict, c.found_by, c.trace_steps) {
        ("deadlock", Some("run"), _) => format!("deadlock (run, seed {})", c.seed.unwrap_or(0)),
        ("deadlock", _, Some(n)) => format!("deadlock &middot; {n} steps"),
        (v, ..) => v.to_string(),
    }
}

fn matrix(o: &mut String, scen: &[&str], pols: &[&str], cells: &[Cell]) {
    o.push_str("<h2 id=\"verdicts\">Verdicts: policy &times; scenario</h2>\n<table class=\"matrix\" id=\"matrix\"><thead><tr><th>policy \\ scenario</th>");
    for (i, s) in scen.iter().enumerate() {
        let _ = write!(o, "<th><a href=\"#scen-{i}\">{}</a></th>", esc(s));
    }
    o.push_str("</tr></thead><tbody>\n");
    for p in pols {
        let _ = write!(o, "<tr><th>{}</th>", esc(p));
        for s in scen {
            match cells
                .iter()
                .position(|c| c.scenario == *s && c.policy == *p)
            {
                Some(i) => {
                    let c = &cells[i];
                    let _ = write!(
                        o,
                        "<td class=\"{v}\"><a href=\"#cell-{i}\" title=\"{s} under {p}: {v}\">{w}</a></td>",
                        v = c.verdict,
                        s = esc(s),
                        p = esc(p),
                        w = cell_word(c)
                    );
                }
                None => o.push_str("<td>-</td>"),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n<p class=\"legend\">");
    for (v, what) in [
        (
            "deadlock",
            "a reachable deadlock: the exhaustive check's shortest trace, or a seeded run that reached one",
        ),
        ("livelock", "a reachable retry loop that never progresses"),
        ("safe", "every interleaving explored, no deadlock"),
        (
            "inconclusive",
            "a bound stopped the check and no seeded run deadlocked",
        ),
    ] {
        let _ = write!(
            o,
            "<span class=\"sw\" style=\"background:{}\"></span><b>{v}</b>: {what}. ",
            colour(v)
        );
    }
    o.push_str("Each cell links to its detail.</p>\n");
}

fn scenario(o: &mut String, si: usize, name: &str, rows: &[(usize, &Cell)]) {
    let _ = writeln!(o, "<h2 id=\"scen-{si}\">{}</h2>", esc(name));
    let cells: Vec<&Cell> = rows.iter().map(|(_, c)| *c).collect();
    o.push_str("<div class=\"charts\">\n");
    o.push_str(&bars(
        &format!("Reclaim reach in {name}"),
        "pages per direct-reclaim round (mean over seeded runs)",
        &cells,
        &|c| {
            (c.metrics.direct_reclaim_rounds > 0)
                .then(|| (c.metrics.reach_mean, format!("{:.1}", c.metrics.reach_mean)))
        },
        None,
    ));
    o.push_str(&bars(
        &format!("Reclaim success in {name}"),
        "direct-reclaim rounds that freed a page (%)",
        &cells,
        &|c| {
            (c.metrics.direct_reclaim_rounds > 0).then(|| {
                let v = c.metrics.direct_reclaim_success_rate * 100.0;
                (v, format!("{v:.0}%"))
            })
        },
        Some(100.0),
    ));
    o.push_str("</div>\n<p class=\"legend\">Bars are coloured by verdict as in the matrix. ");
    let _ = writeln!(
        o,
        "<b>Reach</b>: {}. <b>Reclaim success</b>: {}. Lock wait and latency are simulated time: a step costs 1, a reclaim pass 20, a disk I/O 50.</p>",
        esc(super::REACH_MEANS),
        esc(super::SUCCESS_MEANS)
    );
    o.push_str("<table class=\"metrics\"><thead><tr><th>policy</th><th>verdict</th><th>states</th><th>runs blocked</th><th>reach (pages/round)</th><th>reclaim success</th><th>direct-reclaim rounds</th><th>-ENOMEM</th><th>alloc failures (NULL)</th><th>OOM kills</th><th>lock wait (time)</th><th>alloc latency p50 / p99 / max (time)</th><th>pages reclaimed (kswapd)</th></tr></thead><tbody>\n");
    for (i, c) in rows {
        let m = &c.metrics;
        let reclaimed: u64 = m.pages_reclaimed.iter().map(|p| p.pages).sum();
        let verdict = match (c.verdict, c.found_by) {
            ("deadlock", _) => format!("<a href=\"#cell-{i}\">{}</a>", cell_word(c)),
            ("inconclusive", _) => format!("inconclusive ({})", esc(c.bound.unwrap_or("a bound"))),
            (v, _) => v.to_string(),
        };
        let _ = writeln!(
            o,
            "<tr id=\"{rid}-{i}\"><th>{p}</th><td class=\"{v}\">{verdict}</td><td class=\"num\">{}</td><td class=\"num\">{}/{}</td><td class=\"num\">{:.1}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {} / {}</td><td class=\"num\">{reclaimed} ({})</td></tr>",
            c.states,
            c.runs_blocked,
            c.runs,
            m.reach_mean,
            success(m),
            m.direct_reclaim_rounds,
            m.enomem,
            m.alloc_failures,
            m.oom_kills,
            lock_wait(m),
            m.alloc_latency.p50,
            m.alloc_latency.p99,
            m.alloc_latency.max,
            m.kswapd_pages,
            p = esc(&c.policy),
            v = c.verdict,
            // A matrix link lands on the detail of a deadlock, else on the row.
            rid = if c.verdict == "deadlock" {
                "row"
            } else {
                "cell"
            },
        );
    }
    o.push_str("</tbody></table>\n");
    for (i, c) in rows {
        if c.verdict == "deadlock" {
            detail(o, *i, c);
        }
    }
}

fn detail(o: &mut String, i: usize, c: &Cell) {
    let how = match (c.found_by, c.seed) {
        (Some("run"), Some(seed)) => format!(
            "reached by seeded run {seed} (the exhaustive check stopped at {} first); its steps that touch the tasks of the cycle",
            esc(c.bound.unwrap_or("a bound"))
        ),
        _ => format!(
            "shortest trace, {} steps, from the exhaustive check",
            c.trace.len()
        ),
    };
    let _ = writeln!(
        o,
        "<section class=\"detail\" id=\"cell-{i}\"><h3>{} under {}: deadlock</h3><p>{how}. <a href=\"#matrix\">back to the matrix</a></p>",
        esc(&c.scenario),
        esc(&c.policy)
    );
    if !c.trace.is_empty() {
        o.push_str(&sequence(c, &format!("seq-{i}")));
    }
    let start = c.trace.first().map_or(1, |l| l.step);
    let _ = writeln!(o, "<ol class=\"story\" start=\"{start}\">");
    let mut expect = start;
    for l in &c.trace {
        if l.step != expect {
            let _ = writeln!(o, "<li value=\"{}\">{}</li>", l.step, esc(&l.description));
        } else {
            let _ = writeln!(o, "<li>{}</li>", esc(&l.description));
        }
        expect = l.step + 1;
    }
    o.push_str("</ol>\n");
    if let Some(cy) = &c.cycle {
        let _ = writeln!(o, "<p class=\"cycle\">wait-for cycle: {}</p>", esc(cy));
    }
    if !c.blocked.is_empty() {
        o.push_str("<p>blocked:</p><ul>");
        for b in &c.blocked {
            let _ = write!(o, "<li>{}</li>", esc(b));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");
}
