//! What a gfp expression means for an allocation made under given scopes
//! and policy: the answer `reclaimscope explain` prints. It only combines
//! the other modules; no rule is decided here.

use crate::alloc::{self, Oom, OomSkip, Reserves, Retries};
use crate::gfp::{BITS, COMPOSITES, Gfp, GfpValue};
use crate::policy::{AllocSite, Policy};
use crate::reclaim::{self, BufioGate, SourceKind};
use crate::task::{Scope, TaskFlags, current_gfp_context, memalloc_save, pr_set_io_flusher};
use serde::Serialize;

/// The question.
#[derive(Clone, Debug)]
pub struct Request {
    pub mask: GfpValue,
    pub scopes: Vec<Scope>,
    pub io_flusher: bool,
    pub policy: Policy,
    pub order: u32,
}

/// A mask as `explain` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MaskView {
    /// Canonical kernel form; `<unknown> | ...` when part is unknown.
    pub canonical: String,
    /// Hex value when every bit is known.
    pub hex: Option<String>,
    /// Bits surely set.
    pub bits: Vec<&'static str>,
    /// Bits surely clear that matter for reclaim (only when part is unknown).
    pub known_clear: Vec<&'static str>,
    /// The composite mask it equals, if any (`GFP_NOFS`).
    pub equals: Option<&'static str>,
}

impl MaskView {
    pub fn of(v: GfpValue) -> MaskView {
        let exact = v.is_exact();
        let known_clear = if exact.is_some() {
            Vec::new()
        } else {
            BITS.iter()
                .filter(|(_, b)| reclaim_relevant().contains(*b) && v.surely_not(*b))
                .map(|(n, _)| *n)
                .collect()
        };
        MaskView {
            canonical: v.to_string(),
            hex: exact.map(|g| format!("{:#x}", g.0)),
            bits: v.must.bit_names().collect(),
            known_clear,
            equals: exact.and_then(|g| COMPOSITES.iter().find(|(_, c)| *c == g).map(|(n, _)| *n)),
        }
    }
}

/// The bits the slow path and reclaim look at.
fn reclaim_relevant() -> Gfp {
    Gfp::RECLAIM_MASK.difference(Gfp::NOWARN | Gfp::NOLOCKDEP) | Gfp::THISNODE
}

/// One row of the five-second table.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Row {
    pub key: &'static str,
    pub label: &'static str,
    /// `yes`, `no`, a value, or `depends on <ident>` when part of the mask is unknown.
    pub value: String,
    pub why: String,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub mask: MaskView,
    pub scopes: Vec<Scope>,
    pub io_flusher: bool,
    pub policy: Policy,
    pub order: u32,
    pub task_flags: Vec<&'static str>,
    pub effective: MaskView,
    /// The mask shrinkers see (differs from `effective` under swap-only-io).
    pub shrinker_mask: MaskView,
    /// Why the effective mask differs from the one written.
    pub transforms: Vec<String>,
    pub rows: Vec<Row>,
    /// `effective` and `shrinker_mask` as values, for a front-end that
    /// prints them another way (`explain --kernel`).
    #[serde(skip)]
    pub effective_value: GfpValue,
    #[serde(skip)]
    pub shrinker_value: GfpValue,
}

/// Answer `req`.
pub fn explain(req: &Request) -> Explanation {
    let mut task = TaskFlags::empty();
    for s in &req.scopes {
        memalloc_save(&mut task, *s);
    }
    if req.io_flusher {
        pr_set_io_flusher(&mut task, true);
    }
    let lo = Side::new(req, task, req.mask.must);
    let hi = Side::new(req, task, req.mask.may);
    let effective = GfpValue {
        must: lo.ctx_gfp,
        may: hi.ctx_gfp,
    };
    let shrinker = GfpValue {
        must: lo.shrinker_gfp,
        may: hi.shrinker_gfp,
    };
    Explanation {
        mask: MaskView::of(req.mask),
        scopes: req.scopes.clone(),
        io_flusher: req.io_flusher,
        policy: req.policy,
        order: req.order,
        task_flags: task.names(),
        effective: MaskView::of(effective),
        shrinker_mask: MaskView::of(shrinker),
        transforms: transforms(req, task),
        rows: rows_over_completions(req, task),
        effective_value: effective,
        shrinker_value: shrinker,
    }
}

/// Rows for every completion of the unknown reclaim-relevant bits: a row
/// whose answer differs between completions "depends on the unknown
/// bits". Properties such as "OOM killer" are not monotone in the bits, so
/// checking the two extremes would not be enough; there are at most 2^12
/// completions.
fn rows_over_completions(req: &Request, task: TaskFlags) -> Vec<Row> {
    let unknown = (req.mask.may.difference(req.mask.must)) & reclaim_relevant();
    let bits: Vec<Gfp> = BITS
        .iter()
        .map(|(_, b)| *b)
        .filter(|b| unknown.contains(*b))
        .collect();
    // Per row: the row of the first completion, every value seen, and
    // every reason seen (a value can be the same for different reasons).
    let mut merged: Vec<(Row, Vec<String>, Vec<String>)> = Vec::new();
    for subset in 0u32..(1 << bits.len()) {
        let mut g = req.mask.must;
        for (i, b) in bits.iter().enumerate() {
            if subset & (1 << i) != 0 {
                g = g | *b;
            }
        }
        for (i, row) in Side::new(req, task, g).rows().into_iter().enumerate() {
            match merged.get_mut(i) {
                None => {
                    let (v, w) = (row.value.clone(), row.why.clone());
                    merged.push((row, vec![v], vec![w]));
                }
                Some((_, seen, whys)) => {
                    if !seen.contains(&row.value) {
                        seen.push(row.value);
                    }
                    if !whys.contains(&row.why) {
                        whys.push(row.why);
                    }
                }
            }
        }
    }
    merged
        .into_iter()
        .map(|(row, seen, whys)| {
            if seen.len() > 1 {
                Row {
                    value: "depends on the unknown bits".into(),
                    why: format!("one of: {}", seen.join(", ")),
                    ..row
                }
            } else if whys.len() > 1 {
                // The same answer for every completion, but not for the same
                // reason: name each, so none is claimed where it does not hold.
                Row {
                    why: format!("whatever the unknown bits: {}", whys.join("; or ")),
                    ..row
                }
            } else {
                row
            }
        })
        .collect()
}

/// The rows computed for one concrete mask.
struct Side {
    ctx_gfp: Gfp,
    shrinker_gfp: Gfp,
    behavior: alloc::AllocBehavior,
    order: u32,
}

impl Side {
    fn new(req: &Request, task: TaskFlags, gfp: Gfp) -> Side {
        let ctx = req.policy.reclaim_context(&AllocSite {
            task,
            gfp,
            ..AllocSite::default()
        });
        Side {
            ctx_gfp: ctx.gfp,
            shrinker_gfp: ctx.shrinker_gfp,
            behavior: alloc::slow_path(task, ctx.gfp, req.order),
            order: req.order,
        }
    }

    fn rows(&self) -> Vec<Row> {
        let b = &self.behavior;
        let yn = |v: bool| if v { "yes" } else { "no" }.to_string();
        let row = |key, label, value: String, why: &str| Row {
            key,
            label,
            value,
            why: why.to_string(),
        };
        let dr = b.direct_reclaim;
        let no_dr = if b.may_sleep {
            "PF_MEMALLOC: no recursive direct reclaim"
        } else {
            "no direct reclaim from this context"
        };
        let fs = dr && reclaim::touch(self.shrinker_gfp, SourceKind::SuperBlock).allowed();
        let io = dr
            && matches!(
                reclaim::touch(self.shrinker_gfp, SourceKind::Bufio(BufioGate::Io)),
                reclaim::Reclaim::Bufio {
                    write_dirty: true,
                    ..
                }
            );
        let swap = dr && reclaim::touch(self.ctx_gfp, SourceKind::Anon).allowed();
        vec![
            row(
                "may_sleep",
                "may sleep",
                yn(b.may_sleep),
                if b.may_sleep {
                    "__GFP_DIRECT_RECLAIM is set"
                } else {
                    "no __GFP_DIRECT_RECLAIM: must not block"
                },
            ),
            row(
                "wakes_kswapd",
                "wakes kswapd",
                yn(b.wakes_kswapd),
                if b.wakes_kswapd {
                    "__GFP_KSWAPD_RECLAIM: wake_all_kswapds() below the low watermark"
                } else {
                    "no __GFP_KSWAPD_RECLAIM"
                },
            ),
            row(
                "direct_reclaim",
                "direct reclaim",
                yn(dr),
                if dr {
                    "try_to_free_pages() from the slow path when the min watermark fails"
                } else {
                    no_dr
                },
            ),
            row(
                "enters_fs",
                "may enter filesystems",
                yn(fs),
                if !dr {
                    no_dr
                } else if fs {
                    "__GFP_FS: superblock shrinkers prune dentries/inodes, may take fs locks"
                } else {
                    "no __GFP_FS: super_cache_scan() returns SHRINK_STOP"
                },
            ),
            row(
                "starts_io",
                "may start I/O",
                yn(io),
                if !dr {
                    no_dr
                } else if io {
                    "__GFP_IO reaches shrinkers: an io-gated shrinker (dm-bufio before 2014) writes back and waits"
                } else {
                    "shrinkers see no __GFP_IO: no writeback from reclaim"
                },
            ),
            row(
                "swaps",
                "may swap",
                yn(swap),
                if !dr {
                    no_dr
                } else if swap {
                    "__GFP_IO: add_to_swap() and swap-out of anonymous pages"
                } else {
                    "no __GFP_IO: anonymous pages stay (add_to_swap needs __GFP_IO)"
                },
            ),
            row(
                "writes_dirty_file_pages",
                "writes dirty file pages",
                "no".into(),
                "direct reclaim never writes file pages; only kswapd and the flusher do",
            ),
            row(
                "compaction",
                "compaction",
                if self.order == 0 {
                    "n/a (order 0)".into()
                } else {
                    yn(b.compaction)
                },
                if self.order == 0 {
                    "compaction only serves order > 0"
                } else if b.compaction {
                    "direct compaction with __GFP_IO"
                } else {
                    "needs direct reclaim and __GFP_IO (gfp_compaction_allowed)"
                },
            ),
            row(
                "retries",
                "retries",
                retries_text(b.retries).into(),
                first_reason(
                    b,
                    &[
                        "NORETRY",
                        "RETRY_MAYFAIL",
                        "NOFAIL",
                        "costly",
                        "too small",
                        "loops",
                    ],
                ),
            ),
            row("oom", "OOM killer", oom_text(b.oom).into(), oom_why(b.oom)),
            row(
                "may_fail",
                "may fail",
                yn(b.may_fail),
                if b.may_fail {
                    "the caller must handle NULL"
                } else {
                    "the allocator loops until it succeeds"
                },
            ),
            row(
                "reserves",
                "reserves",
                reserves_text(b.reserves).into(),
                reserves_why(b.reserves),
            ),
        ]
    }
}

fn first_reason(b: &alloc::AllocBehavior, keys: &[&str]) -> &'static str {
    b.reasons
        .iter()
        .find(|r| keys.iter().any(|k| r.contains(k)))
        .copied()
        .unwrap_or(match b.retries {
            Retries::None => "no direct reclaim, so nothing to retry",
            _ => "the slow path's retry loop",
        })
}

fn transforms(req: &Request, task: TaskFlags) -> Vec<String> {
    let mut out = Vec::new();
    let g = req.mask.may;
    if task.contains(TaskFlags::PF_MEMALLOC_NOIO) {
        if g.intersects(Gfp::IO | Gfp::FS) {
            out.push(
                "current_gfp_context(): PF_MEMALLOC_NOIO clears __GFP_IO and __GFP_FS".to_string(),
            );
        }
    } else if task.contains(TaskFlags::PF_MEMALLOC_NOFS) && g.contains(Gfp::FS) {
        out.push("current_gfp_context(): PF_MEMALLOC_NOFS clears __GFP_FS".to_string());
    }
    if task.contains(TaskFlags::PF_MEMALLOC_PIN) && g.contains(Gfp::MOVABLE) {
        out.push("current_gfp_context(): PF_MEMALLOC_PIN clears __GFP_MOVABLE".to_string());
    }
    let scoped = current_gfp_context(task, g);
    let ctx = req.policy.reclaim_context(&AllocSite {
        task,
        gfp: g,
        ..AllocSite::default()
    });
    if ctx.gfp != scoped {
        out.push(format!(
            "policy {}: {} becomes {}",
            req.policy, scoped, ctx.gfp
        ));
    }
    if ctx.shrinker_gfp != ctx.gfp {
        out.push(format!(
            "policy {}: shrinkers see {} (swap I/O only)",
            req.policy, ctx.shrinker_gfp
        ));
    }
    out
}

fn retries_text(r: Retries) -> &'static str {
    match r {
        Retries::None => "none",
        Retries::Once => "one round, then fail",
        Retries::WhileProgress => "while reclaim progresses",
        Retries::Forever => "forever",
    }
}

fn oom_text(o: Oom) -> &'static str {
    match o {
        Oom::Invoke => "yes",
        Oom::Skip(OomSkip::NoFs) => "no (loops instead)",
        Oom::Skip(_) => "no",
    }
}

fn oom_why(o: Oom) -> &'static str {
    match o {
        Oom::Invoke => "__alloc_pages_may_oom() after reclaim retries are exhausted",
        Oom::Skip(OomSkip::NoReclaim) => "fails before the OOM stage",
        Oom::Skip(OomSkip::Noretry) => "__GFP_NORETRY fails before the OOM stage",
        Oom::Skip(OomSkip::Costly) => "costly order (> PAGE_ALLOC_COSTLY_ORDER)",
        Oom::Skip(OomSkip::RetryMayfail) => "__GFP_RETRY_MAYFAIL never OOM-kills",
        Oom::Skip(OomSkip::Thisnode) => "__GFP_THISNODE skips the OOM killer",
        Oom::Skip(OomSkip::NoFs) => {
            "no __GFP_FS: out_of_memory() kills nobody but reports progress"
        }
    }
}

fn reserves_text(r: Reserves) -> &'static str {
    match r {
        Reserves::Min => "down to min",
        Reserves::MinNonBlocking => "down to min",
        Reserves::HalfMin => "half of min",
        Reserves::ThreeEighthsMin => "3/8 of min + highatomic",
        Reserves::All => "all (no watermarks)",
    }
}

fn reserves_why(r: Reserves) -> &'static str {
    match r {
        Reserves::Min => "ALLOC_WMARK_MIN in the slow path",
        Reserves::MinNonBlocking => "non-blocking without __GFP_HIGH: no reserve access",
        Reserves::HalfMin => "__GFP_HIGH: ALLOC_MIN_RESERVE",
        Reserves::ThreeEighthsMin => "__GFP_HIGH without direct reclaim: ALLOC_NON_BLOCK too",
        Reserves::All => "__GFP_MEMALLOC or PF_MEMALLOC: ALLOC_NO_WATERMARKS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gfp::parse_expr;

    fn ask(expr: &str, scopes: &[Scope]) -> Explanation {
        explain(&Request {
            mask: parse_expr(expr).unwrap().value(),
            scopes: scopes.to_vec(),
            io_flusher: false,
            policy: Policy::BASELINE,
            order: 0,
        })
    }
    fn val<'a>(e: &'a Explanation, key: &str) -> &'a str {
        &e.rows.iter().find(|r| r.key == key).unwrap().value
    }

    #[test]
    fn kernel_under_nofs_scope_behaves_as_nofs() {
        let e = ask("GFP_KERNEL", &[Scope::Nofs]);
        assert_eq!(e.effective.equals, Some("GFP_NOFS"));
        assert_eq!(val(&e, "enters_fs"), "no");
        assert_eq!(val(&e, "swaps"), "yes");
        assert_eq!(val(&e, "oom"), "no (loops instead)");
        assert!(e.transforms[0].contains("PF_MEMALLOC_NOFS clears __GFP_FS"));
    }

    /// `gfp & ~__GFP_FS` may or may not allow direct reclaim (the unknown
    /// part decides), but it never enters a filesystem: without
    /// __GFP_FS `super_cache_scan()` returns SHRINK_STOP, and without
    /// __GFP_DIRECT_RECLAIM there is no reclaim at all. The reason must
    /// cover both completions, not only the no-reclaim one.
    #[test]
    fn a_definite_answer_gives_a_reason_true_for_every_completion() {
        let e = ask("gfp & ~__GFP_FS", &[]);
        let row = e.rows.iter().find(|r| r.key == "enters_fs").unwrap();
        assert_eq!(row.value, "no");
        assert!(row.why.contains("__GFP_FS"), "{}", row.why);
        assert!(row.why.contains("no direct reclaim"), "{}", row.why);
        // Every definite row's reason includes the reason of each concrete
        // completion of the unknown reclaim bits.
        for expr in [
            "gfp & ~__GFP_FS",
            "gfp & ~__GFP_IO",
            "gfp | __GFP_NOWARN",
            "gfp & GFP_NOIO",
        ] {
            let mask = parse_expr(expr).unwrap().value();
            let e = ask(expr, &[]);
            let unknown = mask.may.difference(mask.must) & reclaim_relevant();
            let bits: Vec<Gfp> = BITS
                .iter()
                .map(|(_, b)| *b)
                .filter(|b| unknown.contains(*b))
                .collect();
            for subset in 0u32..(1 << bits.len()) {
                let mut g = mask.must;
                for (i, b) in bits.iter().enumerate() {
                    if subset & (1 << i) != 0 {
                        g = g | *b;
                    }
                }
                let req = Request {
                    mask: GfpValue { must: g, may: g },
                    scopes: vec![],
                    io_flusher: false,
                    policy: Policy::BASELINE,
                    order: 0,
                };
                let concrete = explain(&req);
                for (r, c) in e.rows.iter().zip(&concrete.rows) {
                    if r.value == "depends on the unknown bits" {
                        assert!(r.why.contains(&c.value), "{expr} {}: {}", r.key, r.why);
                    } else {
                        assert_eq!(r.value, c.value, "{expr} {}", r.key);
                        assert!(
                            r.why.contains(&c.why),
                            "{expr} {}: {} lacks {}",
                            r.key,
                            r.why,
                            c.why
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_bits_give_depends() {
        let e = ask("gfp | __GFP_NOWARN", &[]);
        assert!(e.mask.hex.is_none());
        assert_eq!(val(&e, "enters_fs"), "depends on the unknown bits");
        assert_eq!(val(&e, "writes_dirty_file_pages"), "no");
        // A NOIO scope decides FS and IO whatever `gfp` holds.
        let e = ask("gfp | __GFP_DIRECT_RECLAIM", &[Scope::Noio]);
        assert_eq!(val(&e, "enters_fs"), "no");
        assert_eq!(val(&e, "swaps"), "no");
        assert_eq!(val(&e, "direct_reclaim"), "yes");
    }

    #[test]
    fn merged_policy_drops_io_from_nofs() {
        let e = explain(&Request {
            mask: GfpValue::exact(Gfp::NOFS),
            scopes: vec![],
            io_flusher: false,
            policy: Policy::parse("merged").unwrap(),
            order: 0,
        });
        assert_eq!(e.effective.equals, Some("GFP_NOIO"));
        assert_eq!(val(&e, "swaps"), "no");
    }
}
