//! What the page allocator's slow path (`mm/page_alloc.c:
//! __alloc_pages_slowpath`) does with an effective gfp mask and an order:
//! whether it sleeps, reclaims, retries, calls the OOM killer, may fail, and
//! how deep into the reserves it may dig.

use crate::gfp::{Gfp, GfpValue};
use crate::task::TaskFlags;
use serde::Serialize;

/// `include/linux/mmzone.h: PAGE_ALLOC_COSTLY_ORDER`.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// `mm/internal.h: MAX_RECLAIM_RETRIES`.
pub const MAX_RECLAIM_RETRIES: u32 = 16;

/// How long the slow path keeps reclaiming.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retries {
    /// No direct reclaim at all (atomic, nowait, PF_MEMALLOC).
    None,
    /// One reclaim + compaction round, then fail.
    Once,
    /// Retry while reclaim makes progress (up to MAX_RECLAIM_RETRIES without).
    WhileProgress,
    /// Loop until it succeeds.
    Forever,
}

/// Why `__alloc_pages_may_oom` is not reached or kills nobody.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OomSkip {
    /// No direct reclaim: fails before the OOM stage.
    NoReclaim,
    /// `__GFP_NORETRY` fails after one round.
    Noretry,
    /// Costly order (> PAGE_ALLOC_COSTLY_ORDER).
    Costly,
    /// `__GFP_RETRY_MAYFAIL` never OOM-kills.
    RetryMayfail,
    /// `__GFP_THISNODE`.
    Thisnode,
    /// `out_of_memory()` returns "progress" without killing for `!__GFP_FS`;
    /// the allocation just loops, relying on some other context to kill.
    NoFs,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "decision", content = "reason")]
pub enum Oom {
    Invoke,
    Skip(OomSkip),
}

/// How far below the min watermark the request may go
/// (`gfp_to_alloc_flags`, `__gfp_pfmemalloc_flags`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reserves {
    /// Down to the min watermark.
    Min,
    /// Non-blocking without `__GFP_HIGH` (GFP_NOWAIT): min, no reserve.
    MinNonBlocking,
    /// `__GFP_HIGH` that may block: min x 1/2 (ALLOC_MIN_RESERVE).
    HalfMin,
    /// `__GFP_HIGH` without direct reclaim (GFP_ATOMIC): 3/8 of min + highatomic.
    ThreeEighthsMin,
    /// `__GFP_MEMALLOC` or PF_MEMALLOC: no watermarks at all.
    All,
}

impl Reserves {
    /// Pages below `min` the request may take, as a fraction of min
    /// (numerator over 8): 0 for Min, 4 for HalfMin, 5 for 3/8, 8 for All.
    pub const fn eighths_below_min(self) -> u32 {
        match self {
            Reserves::Min | Reserves::MinNonBlocking => 0,
            Reserves::HalfMin => 4,
            Reserves::ThreeEighthsMin => 5,
            Reserves::All => 8,
        }
    }
}

/// The slow path's decisions for one request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AllocBehavior {
    /// `gfpflags_allow_blocking`: `__GFP_DIRECT_RECLAIM`.
    pub may_sleep: bool,
    /// `__GFP_KSWAPD_RECLAIM` → `wake_all_kswapds`.
    pub wakes_kswapd: bool,
    /// Direct reclaim runs: may sleep and not PF_MEMALLOC (recursion guard).
    pub direct_reclaim: bool,
    /// Direct compaction: needs direct reclaim, `__GFP_IO` (v6.8) and order > 0.
    pub compaction: bool,
    pub retries: Retries,
    pub oom: Oom,
    /// The call may return NULL.
    pub may_fail: bool,
    pub reserves: Reserves,
    /// One short sentence per decision, naming the kernel rule.
    pub reasons: Vec<&'static str>,
}

/// Decide what the slow path does for `task` allocating `gfp` (already
/// through `current_gfp_context`) at `order`.
pub fn slow_path(task: TaskFlags, gfp: Gfp, order: u32) -> AllocBehavior {
    let mut reasons = Vec::new();
    let may_sleep = gfp.contains(Gfp::DIRECT_RECLAIM);
    let wakes_kswapd = gfp.contains(Gfp::KSWAPD_RECLAIM);
    let pf_memalloc = task.contains(TaskFlags::PF_MEMALLOC);
    let reserves = reserves(task, gfp, &mut reasons);
    let direct_reclaim = may_sleep && !pf_memalloc;
    if !may_sleep {
        reasons.push("no __GFP_DIRECT_RECLAIM: never reclaims or compacts directly");
    } else if pf_memalloc {
        reasons.push("PF_MEMALLOC: no recursive direct reclaim");
    }
    let costly = order > PAGE_ALLOC_COSTLY_ORDER;
    let compaction = direct_reclaim && order > 0 && gfp.contains(Gfp::IO);
    if direct_reclaim && order > 0 && !gfp.contains(Gfp::IO) {
        reasons.push("no __GFP_IO: compaction not allowed (gfp_compaction_allowed)");
    }
    let nofail = gfp.contains(Gfp::NOFAIL);
    let (retries, oom, may_fail) = if !direct_reclaim {
        if nofail {
            reasons.push("__GFP_NOFAIL without direct reclaim is disregarded and may return NULL");
        }
        (Retries::None, Oom::Skip(OomSkip::NoReclaim), true)
    } else if nofail {
        reasons.push("__GFP_NOFAIL: loops until it succeeds");
        let oom = oom_decision(gfp, order, &mut reasons);
        (Retries::Forever, oom, false)
    } else if gfp.contains(Gfp::NORETRY) {
        reasons.push("__GFP_NORETRY: one reclaim/compaction round, then fail; no OOM");
        (Retries::Once, Oom::Skip(OomSkip::Noretry), true)
    } else if costly && !gfp.contains(Gfp::RETRY_MAYFAIL) {
        reasons.push("costly order without __GFP_RETRY_MAYFAIL: one round, no OOM");
        (Retries::Once, Oom::Skip(OomSkip::Costly), true)
    } else if gfp.contains(Gfp::RETRY_MAYFAIL) {
        reasons.push(
            "__GFP_RETRY_MAYFAIL: retries while reclaim progresses, never OOM-kills, may fail",
        );
        (
            Retries::WhileProgress,
            Oom::Skip(OomSkip::RetryMayfail),
            true,
        )
    } else {
        let oom = oom_decision(gfp, order, &mut reasons);
        match oom {
            Oom::Invoke => {
                reasons.push("order <= 3: too small to fail, loops with the OOM killer");
                (Retries::Forever, oom, false)
            }
            Oom::Skip(OomSkip::NoFs) => (Retries::Forever, oom, false),
            Oom::Skip(_) => (Retries::WhileProgress, oom, true),
        }
    };
    AllocBehavior {
        may_sleep,
        wakes_kswapd,
        direct_reclaim,
        compaction,
        retries,
        oom,
        may_fail,
        reserves,
        reasons,
    }
}

/// Whether some mask `v` may stand for lets a task (without PF_MEMALLOC)
/// enter direct reclaim. Only `__GFP_DIRECT_RECLAIM` decides that, and it
/// can only be set where `v.may` has it, so asking about `v.may` suffices.
/// Reclaim modifiers such as `__GFP_NORETRY` mean nothing when this is false.
pub fn may_direct_reclaim(v: GfpValue) -> bool {
    slow_path(TaskFlags::empty(), v.may, 0).direct_reclaim
}

/// `__alloc_pages_may_oom` + `out_of_memory` for a request that gets there.
fn oom_decision(gfp: Gfp, order: u32, reasons: &mut Vec<&'static str>) -> Oom {
    if order > PAGE_ALLOC_COSTLY_ORDER {
        reasons.push("costly order: the OOM killer is skipped");
        Oom::Skip(OomSkip::Costly)
    } else if gfp.contains(Gfp::THISNODE) {
        reasons.push("__GFP_THISNODE: the OOM killer is skipped");
        Oom::Skip(OomSkip::Thisnode)
    } else if !gfp.contains(Gfp::FS) {
        reasons.push(
            "no __GFP_FS: out_of_memory() kills nobody and reports progress, so the allocation loops",
        );
        Oom::Skip(OomSkip::NoFs)
    } else {
        Oom::Invoke
    }
}

/// `__gfp_pfmemalloc_flags` then `gfp_to_alloc_flags` (v6.3+).
fn reserves(task: TaskFlags, gfp: Gfp, reasons: &mut Vec<&'static str>) -> Reserves {
    let nomemalloc = gfp.contains(Gfp::NOMEMALLOC);
    if !nomemalloc && gfp.contains(Gfp::MEMALLOC) {
        reasons.push("__GFP_MEMALLOC: ignores watermarks (all reserves)");
        return Reserves::All;
    }
    if !nomemalloc && task.contains(TaskFlags::PF_MEMALLOC) {
        reasons.push("PF_MEMALLOC: ignores watermarks (all reserves)");
        return Reserves::All;
    }
    let blocking = gfp.contains(Gfp::DIRECT_RECLAIM);
    let non_block = !blocking && !nomemalloc;
    if gfp.contains(Gfp::HIGH) {
        if non_block {
            reasons.push("__GFP_HIGH without direct reclaim: down to 3/8 of min, plus highatomic");
            Reserves::ThreeEighthsMin
        } else {
            reasons.push("__GFP_HIGH: down to half of min");
            Reserves::HalfMin
        }
    } else if non_block {
        Reserves::MinNonBlocking
    } else {
        Reserves::Min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(g: Gfp, order: u32) -> AllocBehavior {
        slow_path(TaskFlags::empty(), g, order)
    }

    #[test]
    fn gfp_kernel_small_is_too_small_to_fail() {
        // __alloc_pages_slowpath: order <= 3 loops with the OOM killer.
        let r = b(Gfp::KERNEL, 0);
        assert!(r.may_sleep && r.direct_reclaim && r.wakes_kswapd);
        assert_eq!(r.retries, Retries::Forever);
        assert_eq!(r.oom, Oom::Invoke);
        assert!(!r.may_fail);
        assert_eq!(r.reserves, Reserves::Min);
    }

    #[test]
    fn nofs_loops_without_killing() {
        // out_of_memory(): !__GFP_FS returns true without killing.
        let r = b(Gfp::NOFS, 0);
        assert_eq!(r.oom, Oom::Skip(OomSkip::NoFs));
        assert_eq!(r.retries, Retries::Forever);
        assert!(!r.may_fail);
        assert_eq!(b(Gfp::NOIO, 0).oom, Oom::Skip(OomSkip::NoFs));
    }

    #[test]
    fn noretry_one_round_then_fail() {
        // __alloc_pages_slowpath: `if (gfp_mask & __GFP_NORETRY) goto nopage`.
        let r = b(Gfp::NOIO | Gfp::NORETRY, 0);
        assert_eq!(r.retries, Retries::Once);
        assert_eq!(r.oom, Oom::Skip(OomSkip::Noretry));
        assert!(r.may_fail);
    }

    #[test]
    fn retry_mayfail_never_ooms() {
        let r = b(Gfp::KERNEL | Gfp::RETRY_MAYFAIL, 0);
        assert_eq!(r.retries, Retries::WhileProgress);
        assert_eq!(r.oom, Oom::Skip(OomSkip::RetryMayfail));
        assert!(r.may_fail);
    }

    #[test]
    fn costly_order_one_round_no_oom() {
        // costly_order && !__GFP_RETRY_MAYFAIL → nopage after one round.
        let r = b(Gfp::KERNEL, 4);
        assert_eq!(r.retries, Retries::Once);
        assert_eq!(r.oom, Oom::Skip(OomSkip::Costly));
        assert!(r.may_fail && r.compaction);
        let r = b(Gfp::KERNEL | Gfp::RETRY_MAYFAIL, 4);
        assert_eq!(r.retries, Retries::WhileProgress);
    }

    #[test]
    fn nofail_never_fails() {
        let r = b(Gfp::KERNEL | Gfp::NOFAIL, 0);
        assert!(!r.may_fail);
        assert_eq!(r.retries, Retries::Forever);
        assert_eq!(r.oom, Oom::Invoke);
        // v6.12+: NOFAIL without direct reclaim is disregarded.
        assert!(b(Gfp::NOWAIT | Gfp::NOFAIL, 0).may_fail);
    }

    #[test]
    fn atomic_and_nowait_never_reclaim() {
        let a = b(Gfp::ATOMIC_MASK, 0);
        assert!(!a.may_sleep && !a.direct_reclaim && a.wakes_kswapd && a.may_fail);
        assert_eq!(a.reserves, Reserves::ThreeEighthsMin);
        let n = b(Gfp::NOWAIT, 0);
        assert_eq!(n.retries, Retries::None);
        assert_eq!(n.reserves, Reserves::MinNonBlocking);
        // GFP_KERNEL & ~__GFP_RECLAIM: no reclaim at all, does not even wake kswapd.
        let z = b(Gfp::KERNEL.difference(Gfp::RECLAIM), 0);
        assert!(!z.wakes_kswapd && !z.direct_reclaim);
    }

    #[test]
    fn pf_memalloc_uses_all_reserves_but_no_reclaim() {
        // __gfp_pfmemalloc_flags + the recursion guard in the retry loop.
        let r = slow_path(TaskFlags::PF_MEMALLOC, Gfp::KERNEL, 0);
        assert_eq!(r.reserves, Reserves::All);
        assert!(!r.direct_reclaim && r.may_fail);
        let r = slow_path(TaskFlags::PF_MEMALLOC, Gfp::KERNEL | Gfp::NOMEMALLOC, 0);
        assert_eq!(r.reserves, Reserves::Min);
    }

    #[test]
    fn high_and_memalloc_reserves() {
        assert_eq!(b(Gfp::KERNEL | Gfp::HIGH, 0).reserves, Reserves::HalfMin);
        assert_eq!(b(Gfp::KERNEL | Gfp::MEMALLOC, 0).reserves, Reserves::All);
        assert_eq!(
            b(Gfp::KERNEL | Gfp::MEMALLOC | Gfp::NOMEMALLOC, 0).reserves,
            Reserves::Min
        );
    }

    #[test]
    fn compaction_needs_io_since_v6_8() {
        assert!(b(Gfp::NOFS, 2).compaction);
        assert!(!b(Gfp::NOIO, 2).compaction);
        assert!(!b(Gfp::KERNEL, 0).compaction);
    }

    #[test]
    fn may_direct_reclaim_follows_the_reclaim_bit() {
        assert!(may_direct_reclaim(GfpValue::exact(Gfp::NOIO)));
        assert!(!may_direct_reclaim(GfpValue::exact(
            Gfp::NOWAIT | Gfp::NORETRY
        )));
        assert!(may_direct_reclaim(GfpValue::UNKNOWN));
        let cleared = GfpValue::UNKNOWN & !GfpValue::exact(Gfp::DIRECT_RECLAIM);
        assert!(!may_direct_reclaim(cleared));
    }

    #[test]
    fn thisnode_skips_oom() {
        let r = b(Gfp::KERNEL | Gfp::THISNODE, 0);
        assert_eq!(r.oom, Oom::Skip(OomSkip::Thisnode));
        assert!(r.may_fail);
    }
}
