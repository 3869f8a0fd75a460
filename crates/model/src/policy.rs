//! The fixes argued over in the seeds, as named, combinable rule changes.
//!
//! A policy changes three things and nothing else: the flags a task that
//! serves a block device runs with, the scope a file read/write runs in, and
//! what reclaim may touch from an allocation context. The simulator asks
//! these questions; it never decides them itself.

use crate::gfp::Gfp;
use crate::reclaim::{self, Deps, FsCtx, Reclaim, Source, SourceKind};
use crate::task::{Scope, TaskFlags, current_gfp_context};
use serde::Serialize;
use std::fmt;

/// One proposal.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    Merged,
    SwapOnlyIo,
    SbContext,
    MappingNofs,
    VfsNofs,
    RwfNofsreclaim,
    IoFlusher,
    BioContext,
    DependencyAware,
}

/// Name, source and one-line rule of each policy (the table `reclaimscope policies` prints).
pub struct PolicyInfo {
    pub kind: Option<PolicyKind>,
    pub name: &'static str,
    pub source: &'static str,
    pub rule: &'static str,
}

pub const POLICIES: &[PolicyInfo] = &[
    PolicyInfo {
        kind: None,
        name: "baseline",
        source: "upstream",
        rule: "NOFS clears __GFP_FS, NOIO clears both",
    },
    PolicyInfo {
        kind: Some(PolicyKind::Merged),
        name: "merged",
        source: "Mikulas, \"[PATCH 0/6] Overhaul memalloc_no*\", 2020-06-29",
        rule: "a NOFS context also loses __GFP_IO",
    },
    PolicyInfo {
        kind: Some(PolicyKind::SwapOnlyIo),
        name: "swap-only-io",
        source: "Mikulas, \"[PATCH 0/6] Overhaul memalloc_no*\", 2020-06-29",
        rule: "a NOFS context may still do swap IO, no other IO",
    },
    PolicyInfo {
        kind: Some(PolicyKind::SbContext),
        name: "sb-context",
        source: "Dave Chinner, \"Re: [PATCH 0/6] Overhaul memalloc_no*\", 2020-06-27",
        rule: "reclaim knows the superblock and depth: other depth -> NOFS for that fs, other sb at same depth -> full reclaim, same sb -> the fs decides",
    },
    PolicyInfo {
        kind: Some(PolicyKind::MappingNofs),
        name: "mapping-nofs",
        source: "\"[PATCH] ext4: Fix deadlock on page reclaim\", 2019-07-30",
        rule: "page-cache allocations on a lower fs's mappings drop __GFP_FS",
    },
    PolicyInfo {
        kind: Some(PolicyKind::VfsNofs),
        name: "vfs-nofs",
        source: "\"Re: [PATCH] ext4: Fix deadlock on page reclaim\", 2019-07-30 (big hammer)",
        rule: "every file read/write runs in a NOFS scope",
    },
    PolicyInfo {
        kind: Some(PolicyKind::RwfNofsreclaim),
        name: "rwf-nofsreclaim",
        source: "Damien Le Moal, \"Re: [PATCH] ext4: Fix deadlock on page reclaim\", 2019-07-30",
        rule: "a task serving a block device passes a no-fs-reclaim flag on its reads/writes: NOFS for that call",
    },
    PolicyInfo {
        kind: Some(PolicyKind::IoFlusher),
        name: "io-flusher",
        source: "\"Re: [PATCH] ext4: Fix deadlock on page reclaim\", 2019-07-30 (prctl idea; upstream since 5.6)",
        rule: "every task serving a block device has PR_SET_IO_FLUSHER: NOIO + local throttle",
    },
    PolicyInfo {
        kind: Some(PolicyKind::BioContext),
        name: "bio-context",
        source: "Andreas, \"Re: [PATCH] ext4: Fix deadlock on page reclaim\", 2019-07-30",
        rule: "the submitter's scope travels with the bio to the kernel worker that serves it",
    },
    PolicyInfo {
        kind: Some(PolicyKind::DependencyAware),
        name: "dependency-aware",
        source: "reclaimscope",
        rule: "reclaim skips exactly the sources whose progress depends on what the allocating context holds or waits for",
    },
];

/// A set of policies; the empty set is `baseline`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Policy(u16);

impl Policy {
    pub const BASELINE: Policy = Policy(0);

    pub const fn with(self, k: PolicyKind) -> Policy {
        Policy(self.0 | 1 << k as u16)
    }
    pub const fn has(self, k: PolicyKind) -> bool {
        self.0 & (1 << k as u16) != 0
    }
    pub const fn of(k: PolicyKind) -> Policy {
        Policy::BASELINE.with(k)
    }

    /// `baseline`, `merged`, `baseline+io-flusher`, `sb-context+io-flusher`.
    pub fn parse(s: &str) -> Result<Policy, String> {
        let mut p = Policy::BASELINE;
        for part in s.split('+').map(str::trim) {
            let info = POLICIES.iter().find(|i| i.name == part).ok_or_else(|| {
                format!(
                    "unknown policy `{part}`; known: {}",
                    POLICIES
                        .iter()
                        .map(|i| i.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            if let Some(k) = info.kind {
                p = p.with(k);
            }
        }
        Ok(p)
    }

    /// Every single policy, baseline first: what `--policy all` compares.
    pub fn all() -> Vec<Policy> {
        POLICIES
            .iter()
            .map(|i| i.kind.map_or(Policy::BASELINE, Policy::of))
            .collect()
    }

    pub fn kinds(self) -> impl Iterator<Item = PolicyKind> {
        POLICIES
            .iter()
            .filter_map(|i| i.kind)
            .filter(move |k| self.has(*k))
    }

    /// Flags a task that serves a block device (loop worker, userspace
    /// daemon) runs with, given the flags it starts with.
    pub fn server_flags(self, base: TaskFlags) -> TaskFlags {
        if self.has(PolicyKind::IoFlusher) {
            base.union(TaskFlags::PR_IO_FLUSHER)
        } else {
            base
        }
    }

    /// The scope a file read or write runs in, if the policy adds one.
    pub fn file_io_scope(self, serves_bdev: bool) -> Option<Scope> {
        let vfs = self.has(PolicyKind::VfsNofs);
        let rwf = self.has(PolicyKind::RwfNofsreclaim) && serves_bdev;
        (vfs || rwf).then_some(Scope::Nofs)
    }

    /// Scope flags a kernel worker inherits from the submitter of the bio
    /// it serves. Userspace daemons read commands from a ring, not bios,
    /// so nothing reaches them ("Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30): "there is no BIO to work with").
    pub fn bio_inherited(self, submitter: TaskFlags, kernel_worker: bool) -> TaskFlags {
        if self.has(PolicyKind::BioContext) && kernel_worker {
            TaskFlags(submitter.0 & (TaskFlags::PF_MEMALLOC_NOFS.0 | TaskFlags::PF_MEMALLOC_NOIO.0))
        } else {
            TaskFlags::empty()
        }
    }

    /// The reclaim context of one allocation.
    pub fn reclaim_context(self, site: &AllocSite) -> ReclaimCtx {
        let task = site.task.union(site.bio_flags);
        let mut gfp = current_gfp_context(task, site.gfp);
        let noio = !gfp.contains(Gfp::IO);
        if self.has(PolicyKind::MappingNofs) && site.page_cache_of_lower_fs {
            gfp = gfp.difference(Gfp::FS);
        }
        if self.has(PolicyKind::Merged) && !gfp.contains(Gfp::FS) {
            gfp = gfp.difference(Gfp::IO);
        }
        let shrinker_gfp = if self.has(PolicyKind::SwapOnlyIo) && !gfp.contains(Gfp::FS) {
            gfp.difference(Gfp::IO)
        } else {
            gfp
        };
        ReclaimCtx {
            task,
            gfp,
            shrinker_gfp,
            fs: site.fs,
            noio,
        }
    }

    /// What reclaim from `ctx` does with `src`.
    pub fn touch(self, ctx: &ReclaimCtx, src: &Source, deps: &dyn Deps) -> Reclaim {
        let mask_for = |kind: SourceKind| match kind {
            SourceKind::Anon | SourceKind::CleanPageCache => ctx.gfp,
            _ => ctx.shrinker_gfp,
        };
        if self.has(PolicyKind::DependencyAware) {
            if deps.depends_on_ctx(src) {
                return Reclaim::Skip {
                    why: "its progress depends on what this context holds or waits for",
                };
            }
            return reclaim::touch(ctx.gfp | Gfp::IO | Gfp::FS, src.kind);
        }
        if let (true, Some(me), Some(it), SourceKind::SuperBlock) =
            (self.has(PolicyKind::SbContext), ctx.fs, src.fs, src.kind)
        {
            return sb_context_touch(ctx, me, it, src, deps);
        }
        reclaim::touch(mask_for(src.kind), src.kind)
    }
}

/// Dave Chinner's per-superblock reclaim context ("Re: [PATCH 0/6]
/// Overhaul memalloc_no*", dm-devel, 2020-06-29): a NOFS context is
/// refined by superblock and depth. A NOIO context is not a filesystem's
/// statement about itself but the block layer's (`memalloc_noio_save()` in
/// a driver's I/O path, `GFP_NOIO`): it keeps baseline reclaim, so
/// `super_cache_scan()` still returns SHRINK_STOP without `__GFP_FS`.
fn sb_context_touch(
    ctx: &ReclaimCtx,
    me: FsCtx,
    it: FsCtx,
    src: &Source,
    deps: &dyn Deps,
) -> Reclaim {
    if ctx.noio {
        return reclaim::touch(ctx.shrinker_gfp, src.kind);
    }
    if me.depth != it.depth {
        return reclaim::touch(ctx.shrinker_gfp.difference(Gfp::FS), src.kind);
    }
    if me.sb != it.sb {
        return reclaim::touch(ctx.shrinker_gfp | Gfp::IO | Gfp::FS, src.kind);
    }
    if deps.holds_lock_needed_by(src) {
        return Reclaim::Skip {
            why: "same superblock and this context holds a lock its reclaim needs",
        };
    }
    reclaim::touch(ctx.shrinker_gfp | Gfp::FS, src.kind)
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = POLICIES
            .iter()
            .filter(|i| i.kind.is_some_and(|k| self.has(k)))
            .map(|i| i.name)
            .collect();
        if names.is_empty() {
            f.write_str("baseline")
        } else {
            f.write_str(&names.join("+"))
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Policy({self})")
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One allocation, as the policies need to see it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct AllocSite {
    /// `current->flags` with the task's scopes applied.
    pub task: TaskFlags,
    /// The mask at the call site.
    pub gfp: Gfp,
    /// The filesystem the task is operating in, if any (sb-context).
    pub fs: Option<FsCtx>,
    /// A page-cache allocation on a mapping of a filesystem that backs a
    /// block device lower in the stack (mapping-nofs).
    pub page_cache_of_lower_fs: bool,
    /// Scope flags carried by the bio being served (bio-context).
    pub bio_flags: TaskFlags,
}

/// The context reclaim runs in for one allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ReclaimCtx {
    pub task: TaskFlags,
    /// The effective mask (`current_gfp_context` + policy): decides
    /// direct reclaim, retries and OOM, and what page reclaim may swap.
    pub gfp: Gfp,
    /// The mask shrinkers see in `sc->gfp_mask`.
    pub shrinker_gfp: Gfp,
    pub fs: Option<FsCtx>,
    /// The allocation itself forbids I/O (`memalloc_noio_save()` or a
    /// `GFP_NOIO` mask), before any policy narrows it further. sb-context
    /// refines NOFS contexts only: block-layer code that set NOIO must keep it.
    pub noio: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reclaim::{BufioGate, LockMode, NoDeps};

    fn site(gfp: Gfp) -> AllocSite {
        AllocSite {
            gfp,
            ..AllocSite::default()
        }
    }
    fn src(kind: SourceKind, fs: Option<FsCtx>) -> Source {
        Source { id: 0, kind, fs }
    }
    const BUFIO_IO: SourceKind = SourceKind::Bufio(BufioGate::Io);

    #[test]
    fn parse_and_print_round_trip() {
        for s in [
            "baseline",
            "merged",
            "baseline+io-flusher",
            "sb-context+io-flusher",
        ] {
            let p = Policy::parse(s).unwrap();
            let want = s.strip_prefix("baseline+").unwrap_or(s);
            assert_eq!(p.to_string(), want);
        }
        assert!(
            Policy::parse("nofs-everywhere")
                .unwrap_err()
                .contains("unknown policy")
        );
        assert_eq!(Policy::all().len(), POLICIES.len());
    }

    /// "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29): baseline lets the io-gated bufio shrinker write back under
    /// GFP_NOFS; merged and swap-only-io stop it; swap-only-io still swaps.
    #[test]
    fn seed000_bufio_writeback_by_policy() {
        let b = src(BUFIO_IO, None);
        let anon = src(SourceKind::Anon, None);
        let writes = |p: Policy| {
            let ctx = p.reclaim_context(&site(Gfp::NOFS));
            matches!(
                p.touch(&ctx, &b, &NoDeps),
                Reclaim::Bufio {
                    write_dirty: true,
                    ..
                }
            )
        };
        let swaps = |p: Policy| {
            let ctx = p.reclaim_context(&site(Gfp::NOFS));
            p.touch(&ctx, &anon, &NoDeps) == Reclaim::SwapOut
        };
        assert!(writes(Policy::BASELINE) && swaps(Policy::BASELINE));
        assert!(!writes(Policy::of(PolicyKind::Merged)) && !swaps(Policy::of(PolicyKind::Merged)));
        let soi = Policy::of(PolicyKind::SwapOnlyIo);
        assert!(!writes(soi) && swaps(soi));
        // sb-context, io-flusher, bio-context do not change a shrinker's gfp.
        for k in [
            PolicyKind::SbContext,
            PolicyKind::IoFlusher,
            PolicyKind::BioContext,
        ] {
            assert!(writes(Policy::of(k)), "{k:?}");
        }
    }

    /// Dave Chinner's "Re: [PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-27): from a NOFS context in fs 1 at depth 0, sb-context lets
    /// reclaim prune fs 2 at the same depth but not a fs one level up.
    #[test]
    fn sb_context_by_depth_and_superblock() {
        let p = Policy::of(PolicyKind::SbContext);
        let mut s = site(Gfp::NOFS);
        s.fs = Some(FsCtx { sb: 1, depth: 0 });
        let ctx = p.reclaim_context(&s);
        let other_same_depth = src(SourceKind::SuperBlock, Some(FsCtx { sb: 2, depth: 0 }));
        let upper = src(SourceKind::SuperBlock, Some(FsCtx { sb: 3, depth: 1 }));
        let same = src(SourceKind::SuperBlock, Some(FsCtx { sb: 1, depth: 0 }));
        assert_eq!(
            p.touch(&ctx, &other_same_depth, &NoDeps),
            Reclaim::PruneSuperBlock
        );
        assert!(!p.touch(&ctx, &upper, &NoDeps).allowed());
        assert_eq!(p.touch(&ctx, &same, &NoDeps), Reclaim::PruneSuperBlock);
        struct Holds;
        impl Deps for Holds {
            fn holds_lock_needed_by(&self, _: &Source) -> bool {
                true
            }
            fn depends_on_ctx(&self, _: &Source) -> bool {
                true
            }
        }
        assert!(!p.touch(&ctx, &same, &Holds).allowed());
        // Baseline: NOFS reaches no superblock at all.
        let b = Policy::BASELINE.reclaim_context(&s);
        assert!(
            !Policy::BASELINE
                .touch(&b, &other_same_depth, &NoDeps)
                .allowed()
        );
        // A GFP_KERNEL context in ext4 (depth 0) must not prune XFS above it ("Re: [PATCH] ext4: Fix deadlock on page reclaim" (2019-07-30)).
        let mut k = site(Gfp::KERNEL);
        k.fs = Some(FsCtx { sb: 1, depth: 0 });
        let kctx = p.reclaim_context(&k);
        assert!(!p.touch(&kctx, &upper, &NoDeps).allowed());
    }

    /// A NOIO scope survives sb-context: `super_cache_scan()` returns
    /// SHRINK_STOP without `__GFP_FS`, and nothing may add it back to an
    /// allocation made inside `memalloc_noio_save()` (or with GFP_NOIO).
    #[test]
    fn sb_context_keeps_noio() {
        let p = Policy::of(PolicyKind::SbContext);
        let same = src(SourceKind::SuperBlock, Some(FsCtx { sb: 1, depth: 0 }));
        let other = src(SourceKind::SuperBlock, Some(FsCtx { sb: 2, depth: 0 }));
        let mut s = site(Gfp::KERNEL);
        s.task = TaskFlags::PF_MEMALLOC_NOIO;
        s.fs = Some(FsCtx { sb: 1, depth: 0 });
        let ctx = p.reclaim_context(&s);
        assert!(ctx.noio);
        assert!(!p.touch(&ctx, &same, &NoDeps).allowed());
        assert!(!p.touch(&ctx, &other, &NoDeps).allowed());
        let mut g = site(Gfp::NOIO);
        g.fs = Some(FsCtx { sb: 1, depth: 0 });
        assert!(!p.touch(&p.reclaim_context(&g), &same, &NoDeps).allowed());
        // The NOFS context it was designed for is still refined.
        let mut n = site(Gfp::NOFS);
        n.fs = Some(FsCtx { sb: 1, depth: 0 });
        assert!(p.touch(&p.reclaim_context(&n), &same, &NoDeps).allowed());
    }

    #[test]
    fn mapping_nofs_only_on_lower_fs_page_cache() {
        let p = Policy::of(PolicyKind::MappingNofs);
        let mut s = site(Gfp::KERNEL);
        assert_eq!(p.reclaim_context(&s).gfp, Gfp::KERNEL);
        s.page_cache_of_lower_fs = true;
        assert_eq!(p.reclaim_context(&s).gfp, Gfp::NOFS);
    }

    #[test]
    fn file_io_scopes() {
        assert_eq!(Policy::BASELINE.file_io_scope(true), None);
        assert_eq!(
            Policy::of(PolicyKind::VfsNofs).file_io_scope(false),
            Some(Scope::Nofs)
        );
        let rwf = Policy::of(PolicyKind::RwfNofsreclaim);
        assert_eq!(rwf.file_io_scope(true), Some(Scope::Nofs));
        assert_eq!(rwf.file_io_scope(false), None);
    }

    #[test]
    fn io_flusher_and_bio_context() {
        let p = Policy::of(PolicyKind::IoFlusher);
        assert!(
            p.server_flags(TaskFlags::empty())
                .contains(TaskFlags::PF_MEMALLOC_NOIO)
        );
        assert_eq!(
            Policy::BASELINE.server_flags(TaskFlags::empty()),
            TaskFlags::empty()
        );
        let b = Policy::of(PolicyKind::BioContext);
        let nofs = TaskFlags::PF_MEMALLOC_NOFS;
        assert_eq!(b.bio_inherited(nofs, true), nofs);
        assert_eq!(b.bio_inherited(nofs, false), TaskFlags::empty());
        let mut s = site(Gfp::KERNEL);
        s.bio_flags = b.bio_inherited(nofs, true);
        assert_eq!(b.reclaim_context(&s).gfp, Gfp::NOFS);
    }

    #[test]
    fn dependency_aware_skips_exactly_dependent_sources() {
        struct Dep(u16);
        impl Deps for Dep {
            fn holds_lock_needed_by(&self, _: &Source) -> bool {
                false
            }
            fn depends_on_ctx(&self, s: &Source) -> bool {
                s.id == self.0
            }
        }
        let p = Policy::of(PolicyKind::DependencyAware);
        let ctx = p.reclaim_context(&site(Gfp::NOFS));
        let mut a = src(BUFIO_IO, None);
        a.id = 7;
        assert!(!p.touch(&ctx, &a, &Dep(7)).allowed());
        assert_eq!(
            p.touch(&ctx, &a, &Dep(8)),
            Reclaim::Bufio {
                lock: LockMode::Blocking,
                write_dirty: true
            }
        );
        // It reaches superblocks a NOFS baseline context cannot.
        let sb = src(SourceKind::SuperBlock, Some(FsCtx { sb: 2, depth: 0 }));
        assert_eq!(p.touch(&ctx, &sb, &Dep(7)), Reclaim::PruneSuperBlock);
    }
}
