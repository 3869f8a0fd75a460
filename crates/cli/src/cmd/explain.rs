//! `reclaimscope explain`: what a gfp mask means under given scopes.

use crate::diag::{InputError, render};
use reclaimscope_model::GfpValue;
use reclaimscope_model::explain::{Explanation, MaskView, Request, explain};
use reclaimscope_model::gfp::parse_expr;
use reclaimscope_model::gfp_release::Release;
use reclaimscope_model::{Policy, Scope};
use std::fmt::Write as _;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A kernel gfp expression, e.g. 'GFP_NOFS | __GFP_NORETRY'. Several
    /// words are joined with spaces.
    #[arg(required = true, value_name = "EXPR")]
    expr: Vec<String>,
    /// Allocation scope the task is in (repeatable, innermost last).
    #[arg(long, value_name = "nofs|noio|noreclaim|pin")]
    scope: Vec<String>,
    /// The task has called prctl(PR_SET_IO_FLUSHER, 1).
    #[arg(long)]
    io_flusher: bool,
    /// Policy to apply, e.g. `merged` or `baseline+swap-only-io`.
    #[arg(long, default_value = "baseline")]
    policy: String,
    /// Read names, composites and bit values as kernel release X.Y had them
    /// (e.g. `GFP_ATOMIC` includes `__GFP_ATOMIC` before 6.3).
    #[arg(long, value_name = "X.Y")]
    kernel: Option<String>,
    /// Allocation order (pages = 2^order).
    #[arg(long, default_value_t = 0)]
    order: u32,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<u8, InputError> {
    let src = args.expr.join(" ");
    let mut expr = parse_expr(&src)
        .map_err(|e| InputError(render("<command line>", &src, e.span, &e.message)))?;
    let mut notes = Vec::new();
    let release = match &args.kernel {
        Some(k) => {
            let r =
                Release::parse(k).map_err(|e| InputError(render("--kernel", k, 0..k.len(), &e)))?;
            expr = r
                .resolve(&expr, &mut notes)
                .map_err(|e| InputError(render("<command line>", &src, e.span, &e.message)))?;
            notes.extend(r.notes(&expr));
            Some(r)
        }
        None => None,
    };
    let scopes = args
        .scope
        .iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                InputError(format!(
                    "error: --scope `{s}` is not one of nofs, noio, noreclaim, pin"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let policy = Policy::parse(&args.policy).map_err(|e| InputError(format!("error: {e}")))?;
    if args.order > 10 {
        return Err(InputError(format!(
            "error: --order {} is above MAX_PAGE_ORDER (10)",
            args.order
        )));
    }
    let mut e = explain(&Request {
        mask: expr.value(),
        scopes,
        io_flusher: args.io_flusher,
        policy,
        order: args.order,
    });
    if let Some(r) = release {
        let masks = [expr.value(), e.effective_value, e.shrinker_value];
        for (view, v) in [&mut e.mask, &mut e.effective, &mut e.shrinker_mask]
            .into_iter()
            .zip(masks)
        {
            in_release(r, view, v, &mut notes);
        }
    }
    let unknown: Vec<String> = expr.unknown_idents().into_iter().map(|(n, _)| n).collect();
    if args.json {
        let mut v = serde_json::to_value(&e).map_err(|e| InputError(e.to_string()))?;
        v["expression"] = src.clone().into();
        v["unknown"] = unknown.into();
        v["kernel"] = args.kernel.clone().into();
        v["kernel_notes"] = notes.clone().into();
        let out = serde_json::to_string_pretty(&v).map_err(|e| InputError(e.to_string()))?;
        println!("{out}");
    } else {
        print!(
            "{}",
            text(&src, &unknown, &e, args.kernel.as_deref(), &notes)
        );
    }
    Ok(0)
}

/// A mask as release `r` writes it: its composites, its bit values.
fn in_release(r: Release, view: &mut MaskView, v: GfpValue, notes: &mut Vec<String>) {
    view.canonical = r.canonical_value(v);
    view.equals = v.is_exact().and_then(|g| r.equals(g));
    view.hex = v.is_exact().and_then(|g| match r.hex(g) {
        Ok(h) => Some(h),
        Err(why) => {
            if !notes.contains(&why) {
                notes.push(why);
            }
            None
        }
    });
}

fn mask_line(m: &MaskView) -> String {
    match &m.hex {
        Some(h) => format!("{}  ({h})", m.canonical),
        None => m.canonical.clone(),
    }
}

fn text(
    src: &str,
    unknown: &[String],
    e: &Explanation,
    kernel: Option<&str>,
    notes: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{src}");
    if let Some(k) = kernel {
        let _ = writeln!(out, "  kernel      {k}");
        for n in notes {
            let _ = writeln!(out, "  note        {n}");
        }
    }
    let _ = writeln!(out, "  mask        {}", mask_line(&e.mask));
    if !e.mask.bits.is_empty() {
        let _ = writeln!(out, "  bits        {}", e.mask.bits.join(" | "));
    }
    if !unknown.is_empty() {
        let _ = writeln!(
            out,
            "  unknown     {} (rows that depend on it say so)",
            unknown.join(", ")
        );
    }
    if !e.mask.known_clear.is_empty() {
        let _ = writeln!(out, "  surely clear {}", e.mask.known_clear.join(" | "));
    }
    let mut ctx: Vec<String> = e
        .scopes
        .iter()
        .map(|s| format!("{}()", s.save_fn()))
        .collect();
    if e.io_flusher {
        ctx.push("prctl(PR_SET_IO_FLUSHER)".into());
    }
    if !ctx.is_empty() {
        let _ = writeln!(
            out,
            "  task        {}  via {}",
            e.task_flags.join(" | "),
            ctx.join(", ")
        );
    }
    if e.policy != Policy::BASELINE {
        let _ = writeln!(out, "  policy      {}", e.policy);
    }
    if e.order != 0 {
        let _ = writeln!(out, "  order       {} ({} pages)", e.order, 1u64 << e.order);
    }
    let _ = writeln!(out, "  effective   {}", mask_line(&e.effective));
    if e.effective.canonical != e.mask.canonical {
        let name = e.effective.equals.unwrap_or(&e.effective.canonical);
        let _ = writeln!(out, "  behaves as {name}, because:");
        for t in &e.transforms {
            let _ = writeln!(out, "    - {t}");
        }
    }
    let _ = writeln!(out);
    let vw = e.rows.iter().map(|r| r.value.len()).max().unwrap_or(3);
    for r in &e.rows {
        let _ = writeln!(out, "  {:<24} {:<vw$}  {}", r.label, r.value, r.why);
    }
    out
}
