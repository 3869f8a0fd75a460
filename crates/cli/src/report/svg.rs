//! Inline SVG for the HTML report: a deadlock's trace as a sequence diagram
//! and horizontal bar charts with titles, axes and units. Plain SVG 1.1
//! elements only, no scripts, fonts or external references.

use super::Cell;
use reclaimscope_check::sim_model::TraceLine;
use std::fmt::Write as _;

/// Escape text for HTML and SVG content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const LANE_W: usize = 170;
const ROW_H: usize = 40;
const HEAD_H: usize = 46;
const LEFT: usize = 44;
const TEXT_W: usize = 560;

/// Shorten `s` to `n` characters with an ellipsis.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut o: String = s.chars().take(n.saturating_sub(1)).collect();
        o.push('…');
        o
    }
}

/// The lanes of a diagram: every actor, every task a bio moved between,
/// and every task of the cycle, in order of first appearance.
fn lanes(c: &Cell) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !out.iter().any(|l| l == s) {
            out.push(s.to_string());
        }
    };
    for l in &c.trace {
        add(&l.actor);
        for b in &l.bios {
            add(&b.owner);
            match &b.server {
                Some(s) => add(s),
                None => add(&b.device),
            }
        }
    }
    for e in &c.cycle_edges {
        add(&e.task);
        add(&e.held_by);
    }
    out
}

/// A sequence diagram of a deadlock: one lane per task, device worker,
/// daemon (and disk, when a bio goes to one); per step a numbered mark on
/// the acting lane and arrows for bios submitted (solid), taken by their
/// server (dotted) and completed (dashed); at the bottom the wait-for
/// cycle in red, each edge an arrow from the waiting task to the one that
/// holds or serves what it waits for.
pub fn sequence(c: &Cell, id: &str) -> String {
    let lanes = lanes(c);
    let x = |name: &str| {
        let i = lanes.iter().position(|l| l == name).unwrap_or(0);
        LEFT + i * LANE_W + LANE_W / 2
    };
    let in_cycle = |name: &str| {
        c.cycle_edges
            .iter()
            .any(|e| e.task == name || e.held_by == name)
    };
    let steps = c.trace.len();
    let cycle_rows = c.cycle_edges.len();
    let text_x = LEFT + lanes.len() * LANE_W + 10;
    let width = text_x + TEXT_W;
    let body_top = HEAD_H + 10;
    let cycle_top = body_top + steps * ROW_H + 14;
    let height = cycle_top + cycle_rows * ROW_H + 40;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"seq\" id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-labelledby=\"{id}-t\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        s,
        "<title id=\"{id}-t\">Sequence diagram of the deadlock of {} under {}</title>",
        esc(&c.scenario),
        esc(&c.policy)
    );
    let _ = writeln!(
        s,
        "<defs><marker id=\"{id}-a\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker><marker id=\"{id}-r\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#c00\"/></marker></defs>"
    );
    // Lane heads and lifelines.
    // A lane named after a device is its queue (or a disk), not a task.
    let is_device = |name: &str| {
        c.trace
            .iter()
            .flat_map(|l| &l.bios)
            .any(|b| b.device == name)
    };
    for l in &lanes {
        let cx = x(l);
        let (stroke, fill) = if in_cycle(l) {
            ("#c00", "#fee")
        } else if is_device(l) {
            ("#555\" stroke-dasharray=\"3 2", "#fff")
        } else {
            ("#555", "#f4f4f4")
        };
        let shown = if is_device(l) && !in_cycle(l) {
            format!("{l} (device)")
        } else {
            l.clone()
        };
        let _ = writeln!(
            s,
            "<g class=\"lane\"><rect x=\"{}\" y=\"6\" width=\"{}\" height=\"30\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{cx}\" y=\"25\" text-anchor=\"middle\" font-weight=\"bold\">{}</text><line x1=\"{cx}\" y1=\"36\" x2=\"{cx}\" y2=\"{}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/></g>",
            cx - LANE_W / 2 + 6,
            LANE_W - 12,
            esc(&clip(&shown, 22)),
            height - 8
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{text_x}\" y=\"25\" font-weight=\"bold\">what happens</text>"
    );
    for (i, l) in c.trace.iter().enumerate() {
        step_row(&mut s, l, body_top + i * ROW_H, (&lanes, &x), text_x, id);
    }
    // The wait-for cycle at the final world.
    if !c.cycle_edges.is_empty() {
        let _ = writeln!(
            s,
            "<g class=\"cycle\"><line x1=\"4\" y1=\"{y}\" x2=\"{w}\" y2=\"{y}\" stroke=\"#c00\"/><text x=\"6\" y=\"{ty}\" fill=\"#c00\" font-weight=\"bold\">wait-for cycle (nobody can move)</text>",
            y = cycle_top - 10,
            w = width - 4,
            ty = cycle_top + 4
        );
        for (k, e) in c.cycle_edges.iter().enumerate() {
            let y = cycle_top + 30 + k * ROW_H;
            let (x1, x2) = (x(&e.task), x(&e.held_by));
            if x1 == x2 {
                let _ = writeln!(
                    s,
                    "<path d=\"M{x1},{y} c40,-14 40,22 0,8\" fill=\"none\" stroke=\"#c00\" stroke-width=\"2\" marker-end=\"url(#{id}-r)\"/>"
                );
            } else {
                let _ = writeln!(
                    s,
                    "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#c00\" stroke-width=\"2\" marker-end=\"url(#{id}-r)\"/>"
                );
            }
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#c00\">waits for {}</text><text x=\"{text_x}\" y=\"{}\" fill=\"#c00\">{} waits for {}, held by {}</text>",
                (x1 + x2) / 2 + if x1 == x2 { 50 } else { 0 },
                y - 5,
                esc(&clip(&e.resource, 24)),
                y + 4,
                esc(&e.task),
                esc(&e.resource),
                esc(&e.held_by)
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// The lanes of a diagram and the x of a lane's lifeline.
type Lanes<'a> = (&'a [String], &'a dyn Fn(&str) -> usize);

fn step_row(
    s: &mut String,
    l: &TraceLine,
    top: usize,
    (lanes, x): Lanes<'_>,
    text_x: usize,
    id: &str,
) {
    let cx = x(&l.actor);
    let mid = top + ROW_H / 2;
    let _ = writeln!(
        s,
        "<g class=\"step\"><title>{n}. {d}</title><circle cx=\"{cx}\" cy=\"{mid}\" r=\"10\" fill=\"#fff\" stroke=\"#333\"/><text x=\"{cx}\" y=\"{ty}\" text-anchor=\"middle\" font-size=\"11\">{n}</text><text x=\"{text_x}\" y=\"{ty}\">{n}. {short}</text>",
        n = l.step,
        d = esc(&l.description),
        ty = mid + 4,
        short = esc(&clip(&l.description, 86)),
    );
    for b in &l.bios {
        let target = b.server.as_deref().unwrap_or(&b.device);
        let (from, to, dash, label) = match b.event {
            "submitted" => (
                x(&b.owner),
                x(target),
                "",
                format!("bio \u{2192} {}", b.device),
            ),
            // A server takes a bio from its device's queue when the submit
            // arrow went there, else straight from the submitter.
            "taken" => {
                let queue = lanes.contains(&b.device);
                let from = if queue { x(&b.device) } else { x(&b.owner) };
                (
                    from,
                    x(target),
                    " stroke-dasharray=\"2 3\"",
                    "takes bio".into(),
                )
            }
            _ => (
                x(target),
                x(&b.owner),
                " stroke-dasharray=\"6 4\"",
                "bio done".into(),
            ),
        };
        let y = mid + 6;
        if from == to {
            // A task submitting to the device it serves itself.
            let _ = writeln!(
                s,
                "<path class=\"bio {ev}\" d=\"M{x1},{y0} c36,-10 36,18 2,10\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.5\"{dash} marker-end=\"url(#{id}-a)\"/><text x=\"{lx}\" y=\"{ly}\" font-size=\"11\" fill=\"#225\">{label}</text>",
                ev = b.event,
                x1 = from + 10,
                y0 = y - 6,
                lx = from + 40,
                ly = y + 4,
                label = esc(&label),
            );
            continue;
        }
        let off = if from < to { 12 } else { -12 };
        let _ = writeln!(
            s,
            "<line class=\"bio {ev}\" x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#333\" stroke-width=\"1.5\"{dash} marker-end=\"url(#{id}-a)\"/><text x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#225\">{label}</text>",
            ev = b.event,
            x1 = (from as i64 + off) as usize,
            x2 = (to as i64 - off) as usize,
            lx = (from + to) / 2,
            ly = y + 12,
            label = esc(&label),
        );
    }
    s.push_str("</g>\n");
}

/// The colour of a verdict, the same in the matrix, the charts and the legend.
pub fn colour(verdict: &str) -> &'static str {
    match verdict {
        "deadlock" => "#d9534f",
        "livelock" => "#e08e0b",
        "safe" => "#4cae4c",
        _ => "#c8b400",
    }
}

/// A horizontal bar chart, one bar per cell coloured by verdict, with a
/// title, a labelled x axis with ticks, and the value at each bar's end.
/// `value` gives the number and its printed form; `max` fixes the axis end
/// (e.g. 100 for a percentage) or `None` to fit the data.
pub fn bars(
    title: &str,
    axis: &str,
    rows: &[&Cell],
    value: &dyn Fn(&Cell) -> Option<(f64, String)>,
    max: Option<f64>,
) -> String {
    let (label_w, plot_w, bar_h, gap) = (150.0, 380.0, 16.0, 6.0);
    let top = 28.0;
    let data_max = rows
        .iter()
        .filter_map(|c| value(c).map(|v| v.0))
        .fold(0.0f64, f64::max);
    let end = max.unwrap_or_else(|| nice_ceiling(data_max));
    let plot_h = rows.len() as f64 * (bar_h + gap);
    let width = label_w + plot_w + 70.0;
    let height = top + plot_h + 46.0;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\"><title>{t}</title>\n<text x=\"0\" y=\"16\" font-weight=\"bold\">{t}</text>\n",
        t = esc(title)
    );
    // Axis, ticks and grid.
    let axis_y = top + plot_h;
    let n = ticks(end);
    for k in 0..=n {
        let v = end * k as f64 / n as f64;
        let tx = label_w + plot_w * k as f64 / n as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{tx}\" y1=\"{top}\" x2=\"{tx}\" y2=\"{y2}\" stroke=\"#ddd\"/><text x=\"{tx}\" y=\"{ly}\" text-anchor=\"middle\" font-size=\"11\">{v}</text>",
            y2 = axis_y + 4.0,
            ly = axis_y + 16.0,
            v = trim_num(v)
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{label_w}\" y1=\"{axis_y}\" x2=\"{x2}\" y2=\"{axis_y}\" stroke=\"#333\"/><line x1=\"{label_w}\" y1=\"{top}\" x2=\"{label_w}\" y2=\"{axis_y}\" stroke=\"#333\"/><text x=\"{cx}\" y=\"{ay}\" text-anchor=\"middle\">{a}</text>",
        x2 = label_w + plot_w,
        cx = label_w + plot_w / 2.0,
        ay = axis_y + 34.0,
        a = esc(axis)
    );
    for (i, c) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap) + gap / 2.0;
        let ty = y + bar_h - 4.0;
        let _ = write!(
            s,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{p}</text>",
            lx = label_w - 6.0,
            p = esc(&c.policy)
        );
        match value(c) {
            Some((v, shown)) => {
                let w = if end > 0.0 { v / end * plot_w } else { 0.0 };
                let _ = writeln!(
                    s,
                    "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bar_h}\" fill=\"{col}\"><title>{p}: {shown} ({verdict})</title></rect><text x=\"{vx:.1}\" y=\"{ty}\" font-size=\"11\">{shown}</text>",
                    col = colour(c.verdict),
                    p = esc(&c.policy),
                    verdict = c.verdict,
                    vx = label_w + w + 4.0,
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "<text x=\"{vx}\" y=\"{ty}\" font-size=\"11\" fill=\"#777\">no direct reclaim</text>",
                    vx = label_w + 4.0
                );
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 5 x 10^k at or above `v` (at least 1).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * mag)
}

/// Intervals on an axis ending at `end` (1, 2 or 5 x 10^k): round steps.
fn ticks(end: f64) -> usize {
    let lead = end / 10f64.powf(end.log10().floor());
    if (lead - 2.0).abs() < 1e-9 { 4 } else { 5 }
}

fn trim_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::nice_ceiling;

    #[test]
    fn axis_ends_on_a_round_number_above_the_data() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(8.0), 10.0);
        assert_eq!(nice_ceiling(17.8), 20.0);
        assert_eq!(nice_ceiling(20.0), 20.0);
        assert_eq!(nice_ceiling(430.0), 500.0);
    }
}
