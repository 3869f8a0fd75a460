//! The world as a value: small integers in fixed-size arrays, so it is
//! cheap to clone and hash and `step` allocates nothing.

use crate::scenario::{MAX_BUFIO, MAX_FS, MAX_LOCKS, MAX_TASKS};
use std::hash::{Hash, Hasher};

pub(crate) const NONE: u8 = u8::MAX;

// Task states.
pub(crate) const ST_READY: u8 = 0;
pub(crate) const ST_REC: u8 = 1;
pub(crate) const ST_REC_IO: u8 = 2;
pub(crate) const ST_OP_IO: u8 = 3;
pub(crate) const ST_IDLE: u8 = 4;
pub(crate) const ST_DONE: u8 = 5;
pub(crate) const ST_KILLED: u8 = 6;

// Task bits.
pub(crate) const B_ROUND: u8 = 1;
pub(crate) const B_FAILED: u8 = 2;
pub(crate) const B_RESERVE: u8 = 4;
pub(crate) const B_WRITE: u8 = 8;
pub(crate) const B_IN_ALLOC: u8 = 16;
/// In direct reclaim (`__perform_reclaim`): the next step picks a source.
pub(crate) const B_RECLAIMING: u8 = 32;

// Bio states (of the bio a task waits on).
pub(crate) const BIO_NONE: u8 = 0;
pub(crate) const BIO_QUEUED: u8 = 1;
pub(crate) const BIO_SERVING: u8 = 2;
pub(crate) const BIO_DONE: u8 = 3;
/// In `bio_flags`: the bio is a write.
pub(crate) const BIO_WRITE: u8 = 0x80;

/// Compressed task flags (`current->flags` bits the model reads).
pub(crate) const F_NOFS: u8 = 1;
pub(crate) const F_NOIO: u8 = 2;
pub(crate) const F_MEMALLOC: u8 = 4;
pub(crate) const F_LT: u8 = 8;
pub(crate) const F_KSWAPD: u8 = 16;

pub(crate) const SAVE_SLOTS: usize = 6;
pub(crate) const REP_SLOTS: usize = 3;

/// One task: user task, device server thread, flusher, kswapd or bufio worker.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Task {
    pub(crate) pc: u16,
    pub(crate) st: u8,
    pub(crate) flags: u8,
    pub(crate) held: u8,
    pub(crate) bits: u8,
    /// Reclaim source in progress (flusher: the fs being written back).
    pub(crate) rsrc: u8,
    /// Next lock of the source to take.
    pub(crate) rstep: u8,
    /// Server: the task whose bio it serves.
    pub(crate) serving: u8,
    pub(crate) bio_dev: u8,
    pub(crate) bio_st: u8,
    pub(crate) bio_pages: u8,
    pub(crate) bio_flags: u8,
    pub(crate) saved: [u8; SAVE_SLOTS],
    pub(crate) rep: [u8; REP_SLOTS],
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct FsState {
    pub clean: u16,
    pub dirty: u16,
    pub inodes: u16,
    pub dirty_inodes: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct BufState {
    pub clean: u8,
    pub dirty: u8,
    pub reserve: u8,
    pub queued: bool,
}

/// The whole state of a simulated machine.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct World {
    pub(crate) free: u16,
    pub(crate) anon: u16,
    pub(crate) swap_free: u16,
    pub(crate) kswapd_awake: bool,
    pub(crate) nt: u8,
    pub(crate) nf: u8,
    pub(crate) nb: u8,
    pub(crate) nl: u8,
    pub(crate) fs: [FsState; MAX_FS],
    pub(crate) bufio: [BufState; MAX_BUFIO],
    pub(crate) locks: [u8; MAX_LOCKS],
    pub(crate) tasks: [Task; MAX_TASKS],
}

impl Hash for World {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.free, self.anon, self.swap_free, self.kswapd_awake).hash(h);
        self.fs[..self.nf as usize].hash(h);
        self.bufio[..self.nb as usize].hash(h);
        self.locks[..self.nl as usize].hash(h);
        self.tasks[..self.nt as usize].hash(h);
    }
}

impl World {
    /// Free pages.
    pub fn free_pages(&self) -> u16 {
        self.free
    }
    /// Owner task of lock `l`, if held.
    pub fn lock_owner(&self, l: usize) -> Option<usize> {
        let o = self.locks[l];
        (o != NONE).then_some(o as usize)
    }
    /// Clean and dirty page-cache pages of filesystem `f`.
    pub fn page_cache(&self, f: usize) -> (u16, u16) {
        (self.fs[f].clean, self.fs[f].dirty)
    }
    /// Heap bytes owned besides `size_of::<World>()`: none, the world is inline.
    pub fn heap_bytes(&self) -> usize {
        0
    }
    /// Every page the world accounts for: free, page cache, inodes,
    /// anonymous, dm-bufio buffers and pages tasks hold. Constant over steps
    /// (pages only move), which the tests check.
    pub fn total_pages(&self) -> u32 {
        let fs: u32 = self.fs[..self.nf as usize]
            .iter()
            .map(|f| f.clean as u32 + f.dirty as u32 + f.inodes as u32)
            .sum();
        let bufio: u32 = self.bufio[..self.nb as usize]
            .iter()
            .map(|b| b.clean as u32 + b.dirty as u32)
            .sum();
        let held: u32 = self.tasks[..self.nt as usize]
            .iter()
            .map(|t| t.held as u32)
            .sum();
        self.free as u32 + self.anon as u32 + fs + bufio + held
    }

    /// Whether task `t` finished (or was OOM-killed).
    pub fn task_finished(&self, t: usize) -> bool {
        matches!(self.tasks[t].st, ST_DONE | ST_KILLED)
    }
}
