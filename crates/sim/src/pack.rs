//! A compact byte form of a [`World`], for states waiting in the model
//! checker's breadth-first queue.
//!
//! A world is a few hundred bytes of fixed arrays, and a level of a large
//! search holds millions of them while most of their bytes equal the
//! initial world's (tasks that have not moved, filesystems nobody wrote).
//! [`Codec::pack`] lays out the used slots in a fixed order, XORs them with
//! the initial world's layout and run-length codes the zero bytes; a world
//! of the `bench/check-scale` ublk family at queue depth 8 (18 tasks, 424
//! bytes of used slots) packs into about a fifth of that.
//!
//! Format: a sequence of `(zeros: u8, literals: u8, literals bytes...)`
//! runs over the XORed layout, until the layout's length (which follows
//! from the slot counts, part of the layout). Unused slots are not stored:
//! they keep the base world's values, as the simulator never writes them.

use crate::scenario::{MAX_BUFIO, MAX_FS, MAX_LOCKS, MAX_TASKS};
use crate::world::{BufState, FsState, Task, World};

const TASK_BYTES: usize = std::mem::size_of::<Task>();
/// free, anon, swap_free (2 bytes each), kswapd_awake, nt, nf, nb, nl.
const HEADER: usize = 11;
/// The longest layout: every slot used.
const MAX_LAYOUT: usize = HEADER + 8 * MAX_FS + 4 * MAX_BUFIO + MAX_LOCKS + TASK_BYTES * MAX_TASKS;

/// Packs worlds against one base world (the compiled scenario's initial
/// world), so unchanged bytes cost nothing.
#[derive(Clone, Debug)]
pub struct Codec {
    base: World,
    layout: Box<[u8; MAX_LAYOUT]>,
}

impl Codec {
    /// A codec whose zero runs are the bytes equal to `base`'s.
    pub fn new(base: &World) -> Codec {
        let mut layout = Box::new([0u8; MAX_LAYOUT]);
        layout_of(base, &mut layout);
        Codec {
            base: base.clone(),
            layout,
        }
    }

    /// Append `w`'s packed form to `out`.
    pub fn pack(&self, w: &World, out: &mut Vec<u8>) {
        let mut bytes = [0u8; MAX_LAYOUT];
        let len = layout_of(w, &mut bytes);
        for (b, base) in bytes[..len].iter_mut().zip(self.layout.iter()) {
            *b ^= base;
        }
        let mut at = 0;
        while at < len {
            let zeros = zero_run(&bytes[at..len.min(at + 255)]);
            at += zeros;
            // A literal run ends at the first pair of zero bytes (a single
            // zero costs less inside a run than a new run's two bytes).
            let mut n = 0;
            while at + n < len && n < 255 {
                if bytes[at + n] == 0 && (at + n + 1 == len || bytes[at + n + 1] == 0) {
                    break;
                }
                n += 1;
            }
            out.push(zeros as u8);
            out.push(n as u8);
            out.extend_from_slice(&bytes[at..at + n]);
            at += n;
        }
    }

    /// The world `pack` wrote into `bytes`, over `out`.
    pub fn unpack(&self, bytes: &[u8], out: &mut World) {
        let mut layout = *self.layout;
        let (mut at, mut i) = (0, 0);
        while i + 1 < bytes.len() {
            at += bytes[i] as usize;
            let n = bytes[i + 1] as usize;
            for (b, x) in layout[at..at + n].iter_mut().zip(&bytes[i + 2..i + 2 + n]) {
                *b ^= x;
            }
            at += n;
            i += 2 + n;
        }
        out.clone_from(&self.base);
        read_layout(&layout, out);
    }
}

/// How many bytes at the start of `bytes` are zero, a word at a time
/// (a world's unchanged stretches are hundreds of bytes long).
#[inline]
fn zero_run(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut n = 0;
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if w != 0 {
            return n + (w.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + words.remainder().iter().take_while(|&&b| b == 0).count()
}

/// Write `w`'s used slots into `out` in a fixed order; returns the length.
fn layout_of(w: &World, out: &mut [u8; MAX_LAYOUT]) -> usize {
    let World {
        free,
        anon,
        swap_free,
        kswapd_awake,
        nt,
        nf,
        nb,
        nl,
        fs,
        bufio,
        locks,
        tasks,
    } = w;
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&free.to_le_bytes());
    put(&anon.to_le_bytes());
    put(&swap_free.to_le_bytes());
    put(&[u8::from(*kswapd_awake), *nt, *nf, *nb, *nl]);
    for f in &fs[..*nf as usize] {
        let FsState {
            clean,
            dirty,
            inodes,
            dirty_inodes,
        } = *f;
        for v in [clean, dirty, inodes, dirty_inodes] {
            put(&v.to_le_bytes());
        }
    }
    for b in &bufio[..*nb as usize] {
        let BufState {
            clean,
            dirty,
            reserve,
            queued,
        } = *b;
        put(&[clean, dirty, reserve, u8::from(queued)]);
    }
    put(&locks[..*nl as usize]);
    for t in &tasks[..*nt as usize] {
        put(&t.to_bytes());
    }
    at
}

/// The inverse of [`layout_of`]: every used slot of `out` from `bytes`.
fn read_layout(bytes: &[u8; MAX_LAYOUT], out: &mut World) {
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    out.free = u16_at(0);
    out.anon = u16_at(2);
    out.swap_free = u16_at(4);
    out.kswapd_awake = bytes[6] != 0;
    let [nt, nf, nb, nl] = [bytes[7], bytes[8], bytes[9], bytes[10]];
    (out.nt, out.nf, out.nb, out.nl) = (nt, nf, nb, nl);
    let mut at = HEADER;
    for f in &mut out.fs[..nf as usize] {
        *f = FsState {
            clean: u16_at(at),
            dirty: u16_at(at + 2),
            inodes: u16_at(at + 4),
            dirty_inodes: u16_at(at + 6),
        };
        at += 8;
    }
    for b in &mut out.bufio[..nb as usize] {
        *b = BufState {
            clean: bytes[at],
            dirty: bytes[at + 1],
            reserve: bytes[at + 2],
            queued: bytes[at + 3] != 0,
        };
        at += 4;
    }
    out.locks[..nl as usize].copy_from_slice(&bytes[at..at + nl as usize]);
    at += nl as usize;
    for t in &mut out.tasks[..nt as usize] {
        let mut one = [0u8; TASK_BYTES];
        one.copy_from_slice(&bytes[at..at + TASK_BYTES]);
        *t = Task::from_bytes(&one);
        at += TASK_BYTES;
    }
}
