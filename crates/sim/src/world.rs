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
/// A reclaim round of the current allocation is done. Set only where the
/// allocation reads it (`Sim::counts_rounds`: sites that give up after one
/// round); elsewhere it would split one situation into two worlds.
pub(crate) const B_ROUND: u8 = 1;
pub(crate) const B_FAILED: u8 = 2;
pub(crate) const B_RESERVE: u8 = 4;
pub(crate) const B_WRITE: u8 = 8;
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
///
/// `repr(C)` with no padding (checked below), so [`World::fingerprint`] can
/// read a run of tasks as bytes.
/// `Ord` only gives the symmetry reduction a total order to sort by.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
#[repr(C)]
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
#[repr(C)]
pub(crate) struct FsState {
    pub clean: u16,
    pub dirty: u16,
    pub inodes: u16,
    pub dirty_inodes: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(C)]
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

/// Types whose values are plain bytes: `repr(C)`, integer (or `bool`)
/// fields only, no padding, so every byte of a value is initialised.
///
/// # Safety
/// Implement only for such types; the `const` checks below pin the sizes.
unsafe trait Plain: Copy {}

// SAFETY: repr(C); u16 first, then 20 u8s: 22 bytes, no padding.
unsafe impl Plain for Task {}
// SAFETY: repr(C); four u16s.
unsafe impl Plain for FsState {}
// SAFETY: repr(C); three u8s and a bool (one initialised byte, 0 or 1).
unsafe impl Plain for BufState {}
// SAFETY: an integer.
unsafe impl Plain for u8 {}

const _: () = assert!(std::mem::size_of::<Task>() == 2 + 11 + SAVE_SLOTS + REP_SLOTS);
const _: () = assert!(std::mem::size_of::<FsState>() == 8);
const _: () = assert!(std::mem::size_of::<BufState>() == 4);

/// Where `serving` sits in a task's bytes: [`Task::words`] callers mask it.
pub(crate) const SERVING_BYTE: usize = std::mem::offset_of!(Task, serving);
const _: () = assert!(SERVING_BYTE == 8);

impl Task {
    /// The task's bytes in field order (`pc` in native byte order).
    pub(crate) fn to_bytes(self) -> [u8; std::mem::size_of::<Task>()] {
        let mut out = [0u8; std::mem::size_of::<Task>()];
        out.copy_from_slice(plain_bytes(std::slice::from_ref(&self)));
        out
    }

    /// The task [`Task::to_bytes`] wrote.
    pub(crate) fn from_bytes(b: &[u8; std::mem::size_of::<Task>()]) -> Task {
        let mut saved = [0u8; SAVE_SLOTS];
        saved.copy_from_slice(&b[13..13 + SAVE_SLOTS]);
        let mut rep = [0u8; REP_SLOTS];
        rep.copy_from_slice(&b[13 + SAVE_SLOTS..]);
        Task {
            pc: u16::from_ne_bytes([b[0], b[1]]),
            st: b[2],
            flags: b[3],
            held: b[4],
            bits: b[5],
            rsrc: b[6],
            rstep: b[7],
            serving: b[8],
            bio_dev: b[9],
            bio_st: b[10],
            bio_pages: b[11],
            bio_flags: b[12],
            saved,
            rep,
        }
    }

    /// The task's 22 bytes as three little-endian words (the last one
    /// zero-padded): `serving` is the low byte of the second word.
    #[inline(always)]
    pub(crate) fn words(&self) -> [u64; 3] {
        let b = plain_bytes(std::slice::from_ref(self));
        [word(&b[..8]), word(&b[8..16]), word(&b[16..])]
    }
}

/// The bytes of `items`.
fn plain_bytes<T: Plain>(items: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` has no padding, so all `size_of_val(items)` bytes
    // are initialised; the slice borrows `items` and u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(items.as_ptr().cast::<u8>(), std::mem::size_of_val(items)) }
}

/// wyhash's secret constants (odd, 32 set bits, no zero byte).
const SECRET: [u64; 4] = [
    0xa076_1d64_78bd_642f,
    0xe703_7ed1_a0b4_28db,
    0x8ebc_6af0_9c88_c6e3,
    0x5899_65cc_7537_4cc3,
];

/// Multiply to 128 bits and fold the halves: every input bit reaches every
/// output bit (wyhash's `mum` mix).
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Little-endian word from up to 8 bytes, zero-padded.
#[inline(always)]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// The 8-byte words of `bytes` (a whole fixed array, a multiple of 8
/// bytes long) with every byte from `used` on zeroed: unused slots must
/// not count.
#[inline(always)]
fn masked_words<const N: usize>(bytes: &[u8], used: usize) -> [u64; N] {
    let mut out = [0u64; N];
    for (i, (o, c)) in out.iter_mut().zip(bytes.chunks_exact(8)).enumerate() {
        let keep = used.saturating_sub(8 * i).min(8);
        let mask = if keep == 0 {
            0
        } else {
            u64::MAX >> (64 - 8 * keep)
        };
        *o = word(c) & mask;
    }
    out
}

/// wyhash's bulk state: three independent multiply chains that each take
/// 16 bytes per round, so a round reads 48 bytes.
struct Wy {
    lanes: [u64; 3],
}

impl Wy {
    #[inline(always)]
    fn new() -> Wy {
        let seed = SECRET[0] ^ mum(SECRET[0], SECRET[1]);
        Wy { lanes: [seed; 3] }
    }

    /// One round over six words.
    #[inline(always)]
    fn round(&mut self, w: [u64; 6]) {
        let [s0, s1, s2] = &mut self.lanes;
        *s0 = mum(w[0] ^ SECRET[1], w[1] ^ *s0);
        *s1 = mum(w[2] ^ SECRET[2], w[3] ^ *s1);
        *s2 = mum(w[4] ^ SECRET[3], w[5] ^ *s2);
    }

    /// Two words into the first chain (wyhash's 16-byte step).
    #[inline(always)]
    fn pair(&mut self, a: u64, b: u64) {
        self.lanes[0] = mum(a ^ SECRET[1], b ^ self.lanes[0]);
    }

    /// `bytes` in 48-byte rounds, then 16-byte steps, then a zero-padded
    /// tail: the caller fixes the length elsewhere in the input.
    #[inline(always)]
    fn bytes(&mut self, bytes: &[u8]) {
        let mut rounds = bytes.chunks_exact(48);
        for r in &mut rounds {
            let w = |i: usize| word(&r[8 * i..8 * i + 8]);
            self.round([w(0), w(1), w(2), w(3), w(4), w(5)]);
        }
        let mut pairs = rounds.remainder().chunks_exact(16);
        for p in &mut pairs {
            self.pair(word(&p[..8]), word(&p[8..]));
        }
        let tail = pairs.remainder();
        if !tail.is_empty() {
            let (a, b) = tail.split_at(tail.len().min(8));
            self.pair(word(a), word(b));
        }
    }

    /// wyhash's finish, keyed by the input length.
    #[inline(always)]
    fn finish(self, len: u64) -> u64 {
        let [s0, s1, s2] = self.lanes;
        let s = s0 ^ s1 ^ s2;
        let r = u128::from(SECRET[1]) * u128::from(s);
        mum((r as u64) ^ SECRET[0] ^ len, ((r >> 64) as u64) ^ SECRET[1])
    }
}

const FS_WORDS: usize = std::mem::size_of::<[FsState; MAX_FS]>() / 8;
const BUFIO_WORDS: usize = std::mem::size_of::<[BufState; MAX_BUFIO]>() / 8;
const LOCK_WORDS: usize = MAX_LOCKS / 8;
const _: () = assert!(
    std::mem::size_of::<[FsState; MAX_FS]>().is_multiple_of(8)
        && std::mem::size_of::<[BufState; MAX_BUFIO]>().is_multiple_of(8)
        && MAX_LOCKS.is_multiple_of(8)
);
// `World::fingerprint` lays the fixed arrays out in two rounds and a pair.
const _: () = assert!(FS_WORDS == 8 && BUFIO_WORDS == 2 && LOCK_WORDS == 2);

impl World {
    /// A 64-bit fingerprint of exactly what `Hash` covers (the used slots),
    /// for the model checker's visited set: the fixed arrays are read as
    /// words with unused slots masked to zero, the tasks straight from
    /// memory, all mixed with wyhash's rounds in one pass instead of one
    /// hasher call per field (the counts in the first word fix every
    /// length). Distinct worlds collide with probability about 2^-64 per
    /// pair, as with any strong 64-bit hash.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint_as(&self.locks, &self.tasks[..self.nt as usize])
    }

    /// [`World::fingerprint`] of this world with `locks` and `tasks` in
    /// place of its own: the symmetry reduction hashes a renamed world
    /// without building it (`Symmetry::canonical_fingerprint`).
    pub(crate) fn fingerprint_as(&self, locks: &[u8; MAX_LOCKS], tasks: &[Task]) -> u64 {
        let header = u64::from(self.free)
            | u64::from(self.anon) << 16
            | u64::from(self.swap_free) << 32
            | u64::from(self.kswapd_awake) << 48
            | u64::from(self.nt) << 56;
        let counts = u64::from(self.nf) | u64::from(self.nb) << 8 | u64::from(self.nl) << 16;
        let nf = self.nf as usize * std::mem::size_of::<FsState>();
        let fs: [u64; FS_WORDS] = masked_words(plain_bytes(&self.fs), nf);
        let nb = self.nb as usize * std::mem::size_of::<BufState>();
        let bufio: [u64; BUFIO_WORDS] = masked_words(plain_bytes(&self.bufio), nb);
        let locks: [u64; LOCK_WORDS] = masked_words(plain_bytes(locks), self.nl as usize);
        let mut wy = Wy::new();
        // Fixed part: header, counts, 8 fs words, 2 bufio, 2 lock words.
        wy.round([header, counts, fs[0], fs[1], fs[2], fs[3]]);
        wy.round([fs[4], fs[5], fs[6], fs[7], bufio[0], bufio[1]]);
        wy.pair(locks[0], locks[1]);
        let tasks = plain_bytes(tasks);
        wy.bytes(tasks);
        wy.finish(tasks.len() as u64)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Three tasks, two filesystems, one bufio client, four locks in use.
    fn world() -> World {
        let mut w = World {
            free: 100,
            anon: 20,
            swap_free: 0,
            kswapd_awake: false,
            nt: 3,
            nf: 2,
            nb: 1,
            nl: 4,
            fs: Default::default(),
            bufio: Default::default(),
            locks: [NONE; MAX_LOCKS],
            tasks: Default::default(),
        };
        for (i, t) in w.tasks[..3].iter_mut().enumerate() {
            t.pc = i as u16;
            t.serving = NONE;
            t.bio_dev = NONE;
        }
        w
    }

    /// Every byte the fingerprint reads, each changed in turn.
    fn variants() -> Vec<World> {
        let mut out = Vec::new();
        for v in [1u16, 0x100, 0xffff] {
            let mut w = world();
            w.free ^= v;
            out.push(w.clone());
            let mut w = world();
            w.anon ^= v;
            out.push(w.clone());
            let mut w = world();
            w.swap_free ^= v;
            out.push(w);
        }
        let mut w = world();
        w.kswapd_awake = true;
        out.push(w);
        for f in 0..2 {
            for v in [1u16, 0x8000] {
                for field in 0..4 {
                    let mut w = world();
                    let fs = &mut w.fs[f];
                    *[
                        &mut fs.clean,
                        &mut fs.dirty,
                        &mut fs.inodes,
                        &mut fs.dirty_inodes,
                    ][field] ^= v;
                    out.push(w);
                }
            }
        }
        for field in 0..4 {
            let mut w = world();
            let b = &mut w.bufio[0];
            match field {
                0 => b.clean = 1,
                1 => b.dirty = 1,
                2 => b.reserve = 1,
                _ => b.queued = true,
            }
            out.push(w);
        }
        for l in 0..4 {
            let mut w = world();
            w.locks[l] = 0;
            out.push(w);
        }
        for t in 0..3 {
            for byte in 0..std::mem::size_of::<Task>() {
                let mut w = world();
                let task = &mut w.tasks[t];
                let mut fields: Vec<&mut u8> = vec![
                    &mut task.st,
                    &mut task.flags,
                    &mut task.held,
                    &mut task.bits,
                    &mut task.rsrc,
                    &mut task.rstep,
                    &mut task.serving,
                    &mut task.bio_dev,
                    &mut task.bio_st,
                    &mut task.bio_pages,
                    &mut task.bio_flags,
                ];
                fields.extend(task.saved.iter_mut());
                fields.extend(task.rep.iter_mut());
                match byte {
                    0 => task.pc ^= 1,
                    1 => task.pc ^= 0x100,
                    b => *fields[b - 2] ^= 0x10,
                }
                out.push(w);
            }
        }
        out
    }

    #[test]
    fn every_used_byte_changes_the_fingerprint() {
        let mut seen = HashSet::from([world().fingerprint()]);
        for (i, w) in variants().iter().enumerate() {
            assert!(seen.insert(w.fingerprint()), "variant {i}");
        }
    }

    #[test]
    fn unused_slots_do_not_count_like_hash() {
        // `Hash` covers only the used slots; so must the fingerprint.
        let mut w = world();
        w.tasks[5].pc = 9;
        w.fs[3].dirty = 4;
        w.bufio[2].clean = 1;
        w.locks[7] = 1;
        assert_eq!(w.fingerprint(), world().fingerprint());
    }

    #[test]
    fn small_counters_do_not_collide() {
        // Worlds that differ by small counts in a few places, as a search
        // visits them: 2^20 combinations, all distinct.
        let mut seen = HashSet::new();
        for a in 0u16..32 {
            for b in 0u16..32 {
                for c in 0u8..32 {
                    for d in 0u8..32 {
                        let mut w = world();
                        w.free = a;
                        w.fs[1].dirty = b;
                        w.tasks[0].held = c;
                        w.tasks[2].saved[5] = d;
                        assert!(seen.insert(w.fingerprint()));
                    }
                }
            }
        }
    }
}
