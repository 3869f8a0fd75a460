//! Component behaviours that changed over kernel history, so a user can ask
//! "could this stack deadlock on the kernel I run?" (`--kernel X.Y`).
//! Release numbers without a commit id in their fact are best estimates
//! of the merge window.

use crate::reclaim::BufioGate;
use serde::Serialize;
use std::fmt;

/// A kernel release: mainline `X.Y` (patch 0) or a stable point release
/// `X.Y.Z`. Ordered by (major, minor, patch).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize)]
pub struct KernelVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl KernelVersion {
    pub const fn new(major: u16, minor: u16) -> KernelVersion {
        KernelVersion {
            major,
            minor,
            patch: 0,
        }
    }

    pub const fn point(major: u16, minor: u16, patch: u16) -> KernelVersion {
        KernelVersion {
            major,
            minor,
            patch,
        }
    }

    /// `5.3`, `6.1.192`, `v5.17`, `6.1-rc3`, or a `uname -r` string such as
    /// `6.1.0-18-amd64`: the numeric prefix (see [`Release::parse`] for what
    /// a vendor suffix means).
    pub fn parse(s: &str) -> Result<KernelVersion, String> {
        let t = s.trim().trim_start_matches('v');
        let t = t.split(['-', '+', '_', '~']).next().unwrap_or("");
        let mut it = t.split('.');
        let num = |p: Option<&str>| p.and_then(|x| x.parse::<u16>().ok());
        let (major, minor) = (num(it.next()), num(it.next()));
        let patch = match it.next() {
            None => Some(0),
            p => num(p),
        };
        match (major, minor, patch, it.next()) {
            (Some(major), Some(minor), Some(patch), None) if (2..=9).contains(&major) => {
                Ok(KernelVersion {
                    major,
                    minor,
                    patch,
                })
            }
            _ => Err(format!(
                "`{s}` is not a kernel version like 5.3, 6.1.76 or 6.1.0-18-amd64"
            )),
        }
    }

    /// The same `X.Y` series.
    pub const fn same_series(self, o: KernelVersion) -> bool {
        self.major == o.major && self.minor == o.minor
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// What `--kernel` was given: an upstream release, or a distribution's
/// `uname -r` whose content its version does not tell.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Release {
    /// As given, e.g. `5.14.0-362.el9.x86_64`.
    pub text: String,
    pub version: KernelVersion,
    /// The distribution suffix (`18-amd64`, `362.el9.x86_64`), if any.
    pub vendor: Option<String>,
}

impl Release {
    /// `6.1.76` is upstream; `6.1.0-18-amd64` (Debian) and
    /// `5.14.0-362.el9.x86_64` (RHEL) carry a vendor suffix. `-rcN` is
    /// upstream (a mainline release candidate has its merge window's commits).
    pub fn parse(s: &str) -> Result<Release, String> {
        let version = KernelVersion::parse(s)?;
        let t = s.trim().trim_start_matches('v');
        let suffix = t
            .find(['-', '+', '_', '~'])
            .map(|i| &t[i + 1..])
            .filter(|x| !x.is_empty());
        let rc = suffix.is_some_and(|x| {
            x.strip_prefix("rc")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        Ok(Release {
            text: s.trim().to_string(),
            version,
            vendor: suffix.filter(|_| !rc).map(str::to_string),
        })
    }

    /// Said plainly when the version cannot tell what the kernel contains.
    pub fn note(&self) -> Option<String> {
        self.vendor.as_ref().map(|v| {
            format!(
                "`{}` is a distribution kernel (suffix `{v}`): its version names the upstream base {}, not the fixes the vendor backported, so what it contains cannot be known from the version; modelled as upstream {}. Give the upstream stable release it is based on (e.g. from the package changelog) to include point-release fixes",
                self.text, self.version, self.version
            )
        })
    }
}

/// A behaviour that changed in one release, and the stable point releases
/// of older series that received it (from `Cc: stable` tags and the stable
/// announcements).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Fact {
    pub id: FactId,
    /// What changed, in kernel terms.
    pub what: &'static str,
    /// Upstream commit (12 hex digits) and file.
    pub commit: &'static str,
    pub file: &'static str,
    /// The mainline release that first has it.
    pub since: KernelVersion,
    /// Older series' point releases that carry a backport.
    pub stable: &'static [KernelVersion],
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FactId {
    BufioGateFs,
    BufioNowaitUnderLock,
    BufioTrylock,
    LoopNoio,
    IoFlusherPrctl,
    BufioWorkqueue,
    VmallocScoped,
    KvmallocAnyGfp,
    Jbd2HandleNofs,
    XfsTransNofs,
    XfsReclaimNonblocking,
    XfsInodegc,
}

/// Every history fact `--kernel` applies, oldest first.
pub const FACTS: &[Fact] = &[
    Fact {
        id: FactId::BufioGateFs,
        what: "dm-bufio's shrinker takes its lock and writes dirty buffers only with __GFP_FS (was __GFP_IO)",
        commit: "9d28eb12447e",
        file: "drivers/md/dm-bufio.c",
        since: KernelVersion::new(3, 17),
        stable: &[],
    },
    Fact {
        id: FactId::BufioNowaitUnderLock,
        what: "dm-bufio allocates with GFP_NOWAIT under dm_bufio_lock, then drops it for GFP_NOIO",
        commit: "9ea61cac0b1a",
        file: "drivers/md/dm-bufio.c",
        since: KernelVersion::new(4, 10),
        stable: &[],
    },
    Fact {
        id: FactId::XfsTransNofs,
        what: "an XFS transaction is a NOFS scope (xfs_trans_set_context: memalloc_nofs_save; \"xfs: abstract PF_FSTRANS to PF_MEMALLOC_NOFS\")",
        commit: "9070733b4efa",
        file: "fs/xfs/xfs_trans.h",
        since: KernelVersion::new(4, 12),
        stable: &[],
    },
    Fact {
        id: FactId::Jbd2HandleNofs,
        what: "a running jbd2 handle is a NOFS scope (start_this_handle: memalloc_nofs_save; \"jbd2: mark the transaction context with the scope GFP_NOFS context\")",
        commit: "81378da64de6",
        file: "fs/jbd2/transaction.c",
        since: KernelVersion::new(4, 12),
        stable: &[],
    },
    Fact {
        id: FactId::BufioTrylock,
        what: "dm-bufio's shrinker always trylocks (\"dm bufio: fix deadlock with loop device\")",
        commit: "bd293d071ffe",
        file: "drivers/md/dm-bufio.c",
        since: KernelVersion::new(5, 3),
        // Cc: stable. "commit bd293d071ffe upstream." is the last change
        // before the v4.19.61 tag; 5.2.3 is the 5.2.y release of the same
        // stable batch (2019-07-26).
        stable: &[
            KernelVersion::point(5, 2, 3),
            KernelVersion::point(4, 19, 61),
        ],
    },
    Fact {
        id: FactId::LoopNoio,
        what: "the loop worker runs under PF_MEMALLOC_NOIO (\"loop: set PF_MEMALLOC_NOIO for the worker thread\")",
        commit: "d0a255e795ab",
        file: "drivers/block/loop.c",
        since: KernelVersion::new(5, 3),
        // Cc: stable; 5.2.9 (2019-08-16).
        stable: &[KernelVersion::point(5, 2, 9)],
    },
    Fact {
        id: FactId::IoFlusherPrctl,
        what: "prctl(PR_SET_IO_FLUSHER) exists (before it, the call fails with -EINVAL)",
        commit: "8d19f1c8e193",
        file: "kernel/sys.c",
        since: KernelVersion::new(5, 6),
        stable: &[],
    },
    Fact {
        id: FactId::BufioWorkqueue,
        what: "dm-bufio's shrinker only queues work for dm_bufio_wq; no I/O in reclaim",
        commit: "70704c33db84",
        file: "drivers/md/dm-bufio.c",
        since: KernelVersion::new(5, 8),
        stable: &[],
    },
    Fact {
        id: FactId::XfsReclaimNonblocking,
        what: "XFS inode reclaim skips dirty inodes and pushes the AIL instead of writing inode clusters and waiting (\"xfs: remove IO submission from xfs_reclaim_inode()\", in \"[PATCH 00/30] xfs: rework inode flushing to make inode reclaim fully asynchronous\", linux-xfs, 2020-06-04)",
        commit: "617825fe3489",
        file: "fs/xfs/xfs_icache.c",
        since: KernelVersion::new(5, 9),
        stable: &[],
    },
    Fact {
        id: FactId::XfsInodegc,
        what: "XFS inactivates unlinked inodes in background inodegc workers, not in eviction from reclaim (\"xfs: per-cpu deferred inode inactivation queues\")",
        commit: "ab23a7768739",
        file: "fs/xfs/xfs_icache.c",
        since: KernelVersion::new(5, 14),
        stable: &[],
    },
    Fact {
        id: FactId::VmallocScoped,
        what: "__vmalloc allocates page tables inside memalloc_nofs/noio_save for GFP_NOFS/GFP_NOIO",
        commit: "451769ebb7e7",
        file: "mm/vmalloc.c",
        since: KernelVersion::new(5, 17),
        stable: &[],
    },
    Fact {
        id: FactId::KvmallocAnyGfp,
        what: "kvmalloc falls back to vmalloc for GFP_NOFS/GFP_NOIO",
        commit: "a421ef303008",
        file: "mm/util.c",
        since: KernelVersion::new(5, 17),
        stable: &[],
    },
];

impl Fact {
    pub fn get(id: FactId) -> &'static Fact {
        FACTS
            .iter()
            .find(|f| f.id == id)
            .expect("every FactId has a Fact")
    }

    /// Release `v` contains this change: mainline from `since`, or a point
    /// release at or after a backport in its own series.
    pub fn in_release(&self, v: KernelVersion) -> bool {
        v >= self.since || self.stable.iter().any(|s| s.same_series(v) && v >= *s)
    }
}

/// Whether release `v` contains fact `id`.
pub fn has(id: FactId, v: KernelVersion) -> bool {
    Fact::get(id).in_release(v)
}

/// The facts that differ between two releases (in `FACTS` order).
pub fn facts_between(a: KernelVersion, b: KernelVersion) -> Vec<&'static Fact> {
    FACTS
        .iter()
        .filter(|f| f.in_release(a) != f.in_release(b))
        .collect()
}

/// What a scenario lock stands for, when it is more than a mutex: a
/// filesystem's transaction, whose holder may be inside a NOFS scope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockKind {
    Mutex,
    /// ext4's journal: a running `handle_t` (`ext4_journal_start` ->
    /// `start_this_handle`).
    Jbd2Handle,
    /// `xfs_trans_alloc` .. `xfs_trans_commit`.
    XfsTransaction,
    /// `btrfs_start_transaction`: not a scope; btrfs wraps the few
    /// allocations that need it in `memalloc_nofs_save` locally
    /// (e.g. `create_pending_snapshot`, fs/btrfs/transaction.c).
    BtrfsTransaction,
}

impl LockKind {
    pub fn parse(s: &str) -> Option<LockKind> {
        match s {
            "mutex" => Some(LockKind::Mutex),
            "jbd2-handle" => Some(LockKind::Jbd2Handle),
            "xfs-transaction" => Some(LockKind::XfsTransaction),
            "btrfs-transaction" => Some(LockKind::BtrfsTransaction),
            _ => None,
        }
    }

    /// The fact that makes holding it a NOFS scope, if any.
    pub const fn nofs_fact(self) -> Option<FactId> {
        match self {
            LockKind::Jbd2Handle => Some(FactId::Jbd2HandleNofs),
            LockKind::XfsTransaction => Some(FactId::XfsTransNofs),
            LockKind::Mutex | LockKind::BtrfsTransaction => None,
        }
    }

    /// Holding it is a NOFS scope on release `v` (`None`: the newest).
    pub fn nofs_scope(self, v: Option<KernelVersion>) -> bool {
        self.nofs_fact()
            .is_some_and(|f| v.is_none_or(|v| has(f, v)))
    }
}

/// The long-term releases `--kernel lts` checks (kernel.org's longterm
/// series, as first released).
pub const LTS: &[KernelVersion] = &[
    KernelVersion::new(4, 19),
    KernelVersion::new(5, 4),
    KernelVersion::new(5, 10),
    KernelVersion::new(5, 15),
    KernelVersion::new(6, 1),
    KernelVersion::new(6, 6),
    KernelVersion::new(6, 12),
];

/// How `__vmalloc` allocates page tables.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VmallocMode {
    /// Before v5.17: page tables always GFP_KERNEL, whatever the caller passed.
    Legacy,
    /// v5.17 (451769ebb7e7): page tables inside memalloc_nofs/noio_save.
    Modern,
}

/// How dm-bufio allocates a buffer while holding `dm_bufio_lock`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BufioAlloc {
    /// v3.2: `GFP_NOIO | __GFP_NORETRY | ...` under the lock.
    NoioUnderLock,
    /// v4.10 (9ea61cac0b1a): GFP_NOWAIT under the lock, then drop it for GFP_NOIO.
    NowaitThenNoio,
}

/// What one release did, for each history-dependent component.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct KernelParams {
    pub version: KernelVersion,
    pub bufio_gate: BufioGate,
    /// The loop worker runs under PF_MEMALLOC_NOIO (d0a255e795ab, v5.3).
    pub loop_noio: bool,
    pub vmalloc: VmallocMode,
    /// `kvmalloc` falls back to vmalloc for GFP_NOFS/GFP_NOIO (a421ef303008,
    /// v5.17); before, a non-GFP_KERNEL mask meant kmalloc only.
    pub kvmalloc_any_gfp: bool,
    pub bufio_alloc: BufioAlloc,
    /// `PR_SET_IO_FLUSHER` exists (v5.6).
    pub io_flusher_prctl: bool,
    /// A jbd2 handle / an XFS transaction is a NOFS scope (v4.12).
    pub jbd2_handle_nofs: bool,
    pub xfs_trans_nofs: bool,
    /// How XFS's `super_cache_scan` -> `xfs_reclaim_inodes_nr` treats a
    /// dirty inode: writes its cluster and waits (before v5.9), or skips it.
    pub xfs_inode_reclaim: InodeReclaim,
    /// XFS evicting an unlinked inode from reclaim inactivates it there
    /// (`xfs_inactive`: a transaction, log space) before v5.14.
    pub xfs_inactivate_in_reclaim: bool,
}

/// What a superblock shrinker does with a dirty inode.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InodeReclaim {
    /// Writes it back to the fs's device and waits, then frees it (XFS
    /// before v5.9: `xfs_reclaim_inodes_ag(SYNC_WAIT)` -> `xfs_iflush`).
    WriteAndWait,
    /// Leaves it for background writeback and frees only clean inodes
    /// (XFS from v5.9; the VFS inode LRU of ext4 and btrfs, whose dirty
    /// inodes the flusher writes).
    SkipDirty,
}

impl InodeReclaim {
    pub fn parse(s: &str) -> Option<InodeReclaim> {
        match s {
            "write-and-wait" => Some(InodeReclaim::WriteAndWait),
            "skip-dirty" => Some(InodeReclaim::SkipDirty),
            _ => None,
        }
    }
}

impl KernelParams {
    /// Holding a lock of `kind` is a NOFS scope under these parameters.
    pub fn lock_nofs(&self, kind: LockKind) -> bool {
        match kind {
            LockKind::Jbd2Handle => self.jbd2_handle_nofs,
            LockKind::XfsTransaction => self.xfs_trans_nofs,
            LockKind::Mutex | LockKind::BtrfsTransaction => false,
        }
    }

    /// What the superblock shrinker of a filesystem of `fstype` does with a
    /// dirty inode on this release; `None` for a type whose shrinker is not
    /// known. ext4 and btrfs evict through the VFS inode LRU
    /// (`prune_icache_sb` -> `inode_lru_isolate`, fs/inode.c), which takes
    /// a dirty inode off the LRU for the flusher instead of writing it, on
    /// every release; XFS reclaims through its own cache (`xfs_reclaim_inode`).
    pub fn inode_reclaim(&self, fstype: &str) -> Option<InodeReclaim> {
        match fstype {
            "xfs" => Some(self.xfs_inode_reclaim),
            "ext4" | "btrfs" => Some(InodeReclaim::SkipDirty),
            _ => None,
        }
    }

    pub fn for_version(v: KernelVersion) -> KernelParams {
        KernelParams::with(v, |id| has(id, v))
    }

    /// The parameters of a kernel that has exactly the facts `at` says: a
    /// release, or a release with one fact flipped (to name the fact that
    /// changes a verdict between two releases).
    pub fn with(v: KernelVersion, at: impl Fn(FactId) -> bool) -> KernelParams {
        let bufio_gate = if at(FactId::BufioWorkqueue) {
            BufioGate::Workqueue
        } else if at(FactId::BufioTrylock) {
            BufioGate::Trylock
        } else if at(FactId::BufioGateFs) {
            BufioGate::Fs
        } else {
            BufioGate::Io
        };
        KernelParams {
            version: v,
            bufio_gate,
            loop_noio: at(FactId::LoopNoio),
            vmalloc: if at(FactId::VmallocScoped) {
                VmallocMode::Modern
            } else {
                VmallocMode::Legacy
            },
            kvmalloc_any_gfp: at(FactId::KvmallocAnyGfp),
            bufio_alloc: if at(FactId::BufioNowaitUnderLock) {
                BufioAlloc::NowaitThenNoio
            } else {
                BufioAlloc::NoioUnderLock
            },
            io_flusher_prctl: at(FactId::IoFlusherPrctl),
            jbd2_handle_nofs: at(FactId::Jbd2HandleNofs),
            xfs_trans_nofs: at(FactId::XfsTransNofs),
            xfs_inode_reclaim: if at(FactId::XfsReclaimNonblocking) {
                InodeReclaim::SkipDirty
            } else {
                InodeReclaim::WriteAndWait
            },
            xfs_inactivate_in_reclaim: !at(FactId::XfsInodegc),
        }
    }
}

/// `__vmalloc(GFP_NOFS/GFP_NOIO)` honours the mask for page tables from v5.17.
pub fn vmalloc_honours_gfp(v: KernelVersion) -> bool {
    has(FactId::VmallocScoped, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XFS's `xfs_reclaim_inode` stopped writing dirty inodes in v5.9
    /// (617825fe3489); the VFS inode LRU of ext4 and btrfs never did.
    #[test]
    fn inode_reclaim_by_fs_type_and_release() {
        let at = |v| KernelParams::for_version(v);
        let (old, new) = (KernelVersion::new(5, 8), KernelVersion::new(5, 9));
        assert_eq!(
            at(old).inode_reclaim("xfs"),
            Some(InodeReclaim::WriteAndWait)
        );
        assert_eq!(at(new).inode_reclaim("xfs"), Some(InodeReclaim::SkipDirty));
        for v in [KernelVersion::new(4, 19), new] {
            assert_eq!(at(v).inode_reclaim("ext4"), Some(InodeReclaim::SkipDirty));
            assert_eq!(at(v).inode_reclaim("btrfs"), Some(InodeReclaim::SkipDirty));
            assert_eq!(at(v).inode_reclaim("f2fs"), None);
        }
    }

    #[test]
    fn parses_versions() {
        assert_eq!(
            KernelVersion::parse("6.1.192"),
            Ok(KernelVersion::point(6, 1, 192))
        );
        assert_eq!(
            KernelVersion::parse("6.1.0-18-amd64"),
            Ok(KernelVersion::new(6, 1))
        );
        assert_eq!(
            KernelVersion::parse("v5.17-rc1"),
            Ok(KernelVersion::new(5, 17))
        );
        assert!(KernelVersion::parse("banana").is_err());
        assert!(KernelVersion::parse("5").is_err());
    }

    #[test]
    fn eras() {
        let p = |s| KernelParams::for_version(KernelVersion::parse(s).unwrap());
        assert_eq!(p("3.2").bufio_gate, BufioGate::Io);
        assert_eq!(p("4.19").bufio_gate, BufioGate::Fs);
        assert_eq!(p("5.4").bufio_gate, BufioGate::Trylock);
        assert_eq!(p("6.1").bufio_gate, BufioGate::Workqueue);
        assert!(!p("5.2").loop_noio && p("5.3").loop_noio);
        assert_eq!(p("5.16").vmalloc, VmallocMode::Legacy);
        assert_eq!(p("5.17").vmalloc, VmallocMode::Modern);
        assert!(!p("5.16").kvmalloc_any_gfp && p("5.17").kvmalloc_any_gfp);
        assert_eq!(p("4.9").bufio_alloc, BufioAlloc::NoioUnderLock);
        assert_eq!(p("4.10").bufio_alloc, BufioAlloc::NowaitThenNoio);
        assert!(!p("5.5").io_flusher_prctl && p("5.6").io_flusher_prctl);
    }

    /// d0a255e795ab (v5.3, `loop_kthread_worker_fn` sets PF_MEMALLOC_NOIO)
    /// was Cc: stable and is in 5.2.9: 5.2.8 lacks it, 5.2.21 has it, and
    /// no 5.1 release has it.
    #[test]
    fn stable_point_releases() {
        let p = |s| KernelParams::for_version(KernelVersion::parse(s).unwrap());
        assert!(!p("5.2.8").loop_noio && p("5.2.9").loop_noio && p("5.2.21").loop_noio);
        assert!(!p("5.1.21").loop_noio && !p("5.2").loop_noio);
        assert_eq!(p("4.19.60").bufio_gate, BufioGate::Fs);
        assert_eq!(p("4.19.61").bufio_gate, BufioGate::Trylock);
        assert_eq!(p("4.20.17").bufio_gate, BufioGate::Fs);
    }

    #[test]
    fn vendor_kernels_are_named() {
        let r = Release::parse("5.14.0-362.el9.x86_64").unwrap();
        assert_eq!(r.version, KernelVersion::new(5, 14));
        assert_eq!(r.vendor.as_deref(), Some("362.el9.x86_64"));
        assert!(r.note().unwrap().contains("cannot be known"));
        let d = Release::parse("6.1.0-18-amd64").unwrap();
        assert_eq!(d.vendor.as_deref(), Some("18-amd64"));
        assert_eq!(Release::parse("6.1.76").unwrap().vendor, None);
        assert_eq!(Release::parse("v5.17-rc1").unwrap().vendor, None);
        assert!(Release::parse("6.1.x").is_err());
    }

    #[test]
    fn facts_between_releases() {
        let f = |a, b| {
            facts_between(
                KernelVersion::parse(a).unwrap(),
                KernelVersion::parse(b).unwrap(),
            )
            .iter()
            .map(|f| f.id)
            .collect::<Vec<_>>()
        };
        assert_eq!(
            f("5.2", "5.3"),
            vec![FactId::BufioTrylock, FactId::LoopNoio]
        );
        assert_eq!(
            f("5.10", "6.1"),
            vec![
                FactId::XfsInodegc,
                FactId::VmallocScoped,
                FactId::KvmallocAnyGfp
            ]
        );
        assert!(f("6.1", "6.12").is_empty());
        assert_eq!(
            f("4.11", "4.12"),
            vec![FactId::XfsTransNofs, FactId::Jbd2HandleNofs]
        );
    }
}
