//! What direct reclaim may touch from a context (`mm/vmscan.c:
//! shrink_folio_list`, `may_enter_fs`; `fs/super.c: super_cache_scan`;
//! `drivers/md/dm-bufio.c: dm_bufio_shrink_scan` by era), and what touching a
//! source then involves.
//!
//! The core does not filter shrinkers by gfp: each shrinker checks
//! `sc->gfp_mask` itself, so each [`SourceKind`] carries its own rule.

use crate::gfp::Gfp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a dm-bufio client's shrinker treats the reclaim mask, by kernel era.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BufioGate {
    /// v3.2 to 2014: blocking lock and dirty writeback when `__GFP_IO`.
    Io,
    /// 9d28eb12447e (2014): the same tests on `__GFP_FS`.
    Fs,
    /// bd293d071ffe (v5.3): always trylock; dirty writeback only with `__GFP_FS`.
    Trylock,
    /// 70704c33db84 (v5.8): reclaim only queues work; no I/O in reclaim.
    Workqueue,
}

impl BufioGate {
    pub fn parse(s: &str) -> Option<BufioGate> {
        match s {
            "io" => Some(BufioGate::Io),
            "fs" => Some(BufioGate::Fs),
            "trylock" => Some(BufioGate::Trylock),
            "workqueue" => Some(BufioGate::Workqueue),
            _ => None,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            BufioGate::Io => "io",
            BufioGate::Fs => "fs",
            BufioGate::Trylock => "trylock",
            BufioGate::Workqueue => "workqueue",
        }
    }
}

/// The kinds of memory direct reclaim can free.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Clean page cache of one filesystem: unmapped and dropped, no I/O.
    CleanPageCache,
    /// Anonymous memory: swapped out (a bio to the swap device).
    Anon,
    /// One superblock's shrinker: dentries, inodes, fs-private objects.
    SuperBlock,
    /// One dm-bufio client's shrinker.
    Bufio(BufioGate),
}

/// A superblock's place in the stack: its id and nesting depth (a
/// filesystem on a loop device over a file in another fs is one deeper).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct FsCtx {
    pub sb: u16,
    pub depth: u8,
}

/// One reclaim source of a world: its kind, the superblock it belongs to
/// (page cache and superblock shrinkers), and an id the caller chooses so
/// its [`Deps`] answers can name it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Source {
    pub id: u16,
    pub kind: SourceKind,
    pub fs: Option<FsCtx>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    Blocking,
    Trylock,
}

/// What direct reclaim does when it picks a source.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Reclaim {
    /// The context may not touch the source; the reason names the rule.
    Skip { why: &'static str },
    /// Frees pages at once (clean page cache).
    Free,
    /// Writes anonymous pages to swap and waits for the bio.
    SwapOut,
    /// `super_cache_scan`: trylock the superblock, prune dentries and inodes;
    /// evicting inodes may need the fs's own locks and I/O to its device.
    PruneSuperBlock,
    /// dm-bufio shrinker: take the client lock, evict clean buffers, and
    /// write dirty ones and wait when `write_dirty`.
    Bufio { lock: LockMode, write_dirty: bool },
    /// Work is queued for a worker; reclaim returns at once.
    Deferred,
}

impl Reclaim {
    pub const fn allowed(self) -> bool {
        !matches!(self, Reclaim::Skip { .. })
    }
}

impl fmt::Display for Reclaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reclaim::Skip { why } => write!(f, "skipped: {why}"),
            Reclaim::Free => f.write_str("frees clean pages"),
            Reclaim::SwapOut => f.write_str("swaps anonymous pages out and waits for the bio"),
            Reclaim::PruneSuperBlock => f.write_str("prunes dentries and inodes"),
            Reclaim::Bufio {
                lock,
                write_dirty: true,
            } => write!(
                f,
                "{} dm_bufio_lock, writes dirty buffers back and waits",
                lock_verb(*lock)
            ),
            Reclaim::Bufio {
                lock,
                write_dirty: false,
            } => write!(
                f,
                "{} dm_bufio_lock, evicts clean buffers only",
                lock_verb(*lock)
            ),
            Reclaim::Deferred => f.write_str("queues shrink work for a worker and returns"),
        }
    }
}

fn lock_verb(l: LockMode) -> &'static str {
    match l {
        LockMode::Blocking => "takes",
        LockMode::Trylock => "trylocks",
    }
}

/// The kernel's own rule: what reclaim does with `kind` when the reclaim
/// context's mask (already through `current_gfp_context`) is `gfp`.
pub fn touch(gfp: Gfp, kind: SourceKind) -> Reclaim {
    match kind {
        SourceKind::CleanPageCache => Reclaim::Free,
        SourceKind::Anon if gfp.contains(Gfp::IO) => Reclaim::SwapOut,
        SourceKind::Anon => Reclaim::Skip {
            why: "add_to_swap needs __GFP_IO",
        },
        SourceKind::SuperBlock if gfp.contains(Gfp::FS) => Reclaim::PruneSuperBlock,
        SourceKind::SuperBlock => Reclaim::Skip {
            why: "super_cache_scan returns SHRINK_STOP without __GFP_FS",
        },
        SourceKind::Bufio(gate) => bufio_scan(gate, gfp),
    }
}

/// `dm_bufio_shrink_scan` + `__try_evict_buffer` of each era.
fn bufio_scan(gate: BufioGate, gfp: Gfp) -> Reclaim {
    let gated = |bit: Gfp| {
        if gfp.contains(bit) {
            Reclaim::Bufio {
                lock: LockMode::Blocking,
                write_dirty: true,
            }
        } else {
            Reclaim::Bufio {
                lock: LockMode::Trylock,
                write_dirty: false,
            }
        }
    };
    match gate {
        BufioGate::Io => gated(Gfp::IO),
        BufioGate::Fs => gated(Gfp::FS),
        BufioGate::Trylock => Reclaim::Bufio {
            lock: LockMode::Trylock,
            write_dirty: gfp.contains(Gfp::FS),
        },
        BufioGate::Workqueue => Reclaim::Deferred,
    }
}

/// What the policy needs to know about the world that the model cannot
/// see: answered by the simulator from its topology and state.
pub trait Deps {
    /// Freeing from `src` needs a lock the allocating context holds.
    fn holds_lock_needed_by(&self, src: &Source) -> bool;
    /// Freeing from `src` needs progress (a lock, a bio served by some task,
    /// that task's own needs, ...) that depends on the allocating context.
    fn depends_on_ctx(&self, src: &Source) -> bool;
}

/// A [`Deps`] that knows nothing depends on anything; for contexts with no
/// world (the `explain` command).
pub struct NoDeps;

impl Deps for NoDeps {
    fn holds_lock_needed_by(&self, _: &Source) -> bool {
        false
    }
    fn depends_on_ctx(&self, _: &Source) -> bool {
        false
    }
}

/// Which kinds of source a reclaim mask reaches; the five-second summary
/// `explain` prints.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct Reach {
    pub clean_page_cache: bool,
    /// Direct reclaim never writes dirty file pages: only kswapd/the flusher.
    pub write_dirty_file_pages: bool,
    pub swap_anon: bool,
    pub fs_shrinkers: bool,
    /// A dm-bufio shrinker of each era writes dirty buffers (I/O) from here.
    pub bufio_io: [(BufioGate, bool); 4],
}

pub fn reach(gfp: Gfp) -> Reach {
    let gates = [
        BufioGate::Io,
        BufioGate::Fs,
        BufioGate::Trylock,
        BufioGate::Workqueue,
    ];
    Reach {
        clean_page_cache: true,
        write_dirty_file_pages: false,
        swap_anon: touch(gfp, SourceKind::Anon).allowed(),
        fs_shrinkers: touch(gfp, SourceKind::SuperBlock).allowed(),
        bufio_io: gates.map(|g| {
            (
                g,
                matches!(
                    touch(gfp, SourceKind::Bufio(g)),
                    Reclaim::Bufio {
                        write_dirty: true,
                        ..
                    }
                ),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// shrink_folio_list / add_to_swap: anon needs __GFP_IO.
    #[test]
    fn anon_needs_io() {
        assert_eq!(touch(Gfp::NOFS, SourceKind::Anon), Reclaim::SwapOut);
        assert!(!touch(Gfp::NOIO, SourceKind::Anon).allowed());
    }

    /// super_cache_scan: SHRINK_STOP without __GFP_FS.
    #[test]
    fn superblock_needs_fs() {
        assert_eq!(
            touch(Gfp::KERNEL, SourceKind::SuperBlock),
            Reclaim::PruneSuperBlock
        );
        assert!(!touch(Gfp::NOFS, SourceKind::SuperBlock).allowed());
        assert!(!touch(Gfp::NOIO, SourceKind::SuperBlock).allowed());
    }

    #[test]
    fn clean_cache_always() {
        assert_eq!(touch(Gfp::NOIO, SourceKind::CleanPageCache), Reclaim::Free);
    }

    /// Seed 000 step 3: the io-gated shrinker writes back under GFP_NOFS;
    /// the 2014 fix (fs gate) does not; trylock and workqueue never block.
    #[test]
    fn bufio_gates_by_era() {
        let w = |lock, write_dirty| Reclaim::Bufio { lock, write_dirty };
        assert_eq!(
            touch(Gfp::NOFS, SourceKind::Bufio(BufioGate::Io)),
            w(LockMode::Blocking, true)
        );
        assert_eq!(
            touch(Gfp::NOFS, SourceKind::Bufio(BufioGate::Fs)),
            w(LockMode::Trylock, false)
        );
        assert_eq!(
            touch(Gfp::KERNEL, SourceKind::Bufio(BufioGate::Fs)),
            w(LockMode::Blocking, true)
        );
        assert_eq!(
            touch(Gfp::KERNEL, SourceKind::Bufio(BufioGate::Trylock)),
            w(LockMode::Trylock, true)
        );
        assert_eq!(
            touch(Gfp::NOFS, SourceKind::Bufio(BufioGate::Trylock)),
            w(LockMode::Trylock, false)
        );
        assert_eq!(
            touch(Gfp::KERNEL, SourceKind::Bufio(BufioGate::Workqueue)),
            Reclaim::Deferred
        );
    }

    #[test]
    fn reach_summary() {
        let r = reach(Gfp::NOFS);
        assert!(r.swap_anon && !r.fs_shrinkers && !r.write_dirty_file_pages);
        assert_eq!(r.bufio_io[0], (BufioGate::Io, true));
        assert_eq!(r.bufio_io[1], (BufioGate::Fs, false));
        let r = reach(Gfp::NOIO);
        assert!(!r.swap_anon && r.bufio_io.iter().all(|(_, io)| !io));
    }
}
