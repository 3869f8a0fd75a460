//! 64-bit state fingerprints.
//!
//! Visited sets store fingerprints, not states (as TLC and SPIN's hash
//! compaction do): two distinct states collide with probability about 2^-64
//! per pair, i.e. ~n²/2^65 over a search of n states (≈3·10^-8 for 10^6
//! states), which is the documented price of 8 bytes per state.

use std::hash::{Hash, Hasher};

const MULTIPLE: u64 = 0x5851_F42D_4C95_7F2D;
const SEED: u64 = 0x243F_6A88_85A3_08D3;
const MULTIPLE2: u64 = 0xA076_1D64_78BD_642F;
const PAD: u64 = 0x9E37_79B9_7F4A_7C15;

/// Multiply to 128 bits and fold the halves: every input bit reaches every
/// output bit (the mixing step of ahash/foldhash).
#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// A fast, deterministic (unseeded, platform-independent) hasher for fingerprints.
///
/// Small integer writes (a derived `Hash` of a struct of `u8` fields makes one
/// call per field), lengths and short byte slices are packed into a 64-bit
/// buffer and mixed once per full word. The packing is injective for a fixed
/// write sequence, and `Hash` impls are prefix-free (lengths are written
/// before contents, as the `Hash` docs require), so packing loses nothing.
#[derive(Clone, Debug)]
pub struct FpHasher {
    state: u64,
    buf: u64,
    used: u32,
}

impl Default for FpHasher {
    fn default() -> Self {
        FpHasher {
            state: SEED,
            buf: 0,
            used: 0,
        }
    }
}

impl FpHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, MULTIPLE);
    }

    /// Append `bits` bits of `value` to the buffer, mixing it when full.
    #[inline]
    fn push(&mut self, value: u64, bits: u32) {
        if self.used + bits > 64 {
            self.flush();
        }
        self.buf |= value << self.used;
        self.used += bits;
    }

    #[inline]
    fn flush(&mut self) {
        if self.used > 0 {
            // The multiplier depends on how many bits were packed, so
            // (0u8,) and (0u8, 0u8) differ.
            self.state = folded_multiply(
                self.state ^ self.buf,
                MULTIPLE.wrapping_add(u64::from(self.used)),
            );
            self.buf = 0;
            self.used = 0;
        }
    }
}

impl Hasher for FpHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if bytes.len() <= 8 {
            // Short slices (a task's small arrays) go through the buffer; the
            // `Hash` impl writes their length first, so the bits decode.
            let word = bytes
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i));
            if !bytes.is_empty() {
                self.push(word, 8 * bytes.len() as u32);
            }
            return;
        }
        self.flush();
        // 16 bytes per multiply (wyhash's step): half the dependent chain.
        let mut pairs = bytes.chunks_exact(16);
        for c in &mut pairs {
            let (a, b) = c.split_at(8);
            let a = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]));
            let b = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            self.state = folded_multiply(a ^ self.state, b ^ MULTIPLE2);
        }
        let mut chunks = pairs.remainder().chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        // Byte by byte: a `copy_from_slice` of < 8 bytes is a libc call.
        let tail = rest
            .iter()
            .enumerate()
            .fold(0u64, |w, (i, &b)| w | u64::from(b) << (8 * i));
        // The length goes into the top byte so "ab" and "ab\0" differ.
        self.mix(tail ^ ((bytes.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.push(u64::from(i), 8);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.push(u64::from(i), 16);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.push(u64::from(i), 32);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.push(i, 64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        // Lengths are small: a prefix code keeps them to 16 bits (low bit 0)
        // unless they need more (low bit 1, then all 64 bits of `i << 1`;
        // the top bit of a usize length is never set in practice, and a
        // collision there would need a 2^63-element collection).
        let i = i as u64;
        if i < 1 << 15 {
            self.push(i << 1, 16);
        } else {
            self.push((i << 1) | 1, 64);
        }
    }
    #[inline]
    fn finish(&self) -> u64 {
        let mut state = self.state;
        if self.used > 0 {
            state = folded_multiply(
                state ^ self.buf,
                MULTIPLE.wrapping_add(u64::from(self.used)),
            );
        }
        folded_multiply(state, PAD).rotate_left(23)
    }
}

/// The fingerprint of a value; never 0 (0 marks an empty table slot).
#[inline]
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = FpHasher::default();
    value.hash(&mut h);
    match h.finish() {
        0 => 1,
        fp => fp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn small_structured_states_do_not_collide() {
        // States like a sim world: a few small counters. All 2^20 combinations of
        // four 5-bit fields must get distinct fingerprints.
        let mut seen = HashSet::new();
        for a in 0u8..32 {
            for b in 0u8..32 {
                for c in 0u16..32 {
                    for d in 0u32..32 {
                        assert!(seen.insert(fingerprint(&(a, b, c, d))));
                    }
                }
            }
        }
    }

    #[test]
    fn long_byte_strings_differ_in_any_byte() {
        let base = [7u8; 40];
        let mut seen = HashSet::from([fingerprint(&base[..])]);
        for i in 0..40 {
            for v in [0u8, 1, 8, 255] {
                let mut b = base;
                b[i] = v;
                assert!(seen.insert(fingerprint(&b[..])), "byte {i} = {v}");
            }
        }
    }

    #[test]
    fn byte_strings_of_different_length_differ() {
        assert_ne!(fingerprint(&[1u8, 2][..]), fingerprint(&[1u8, 2, 0][..]));
        assert_ne!(fingerprint(&Vec::<u8>::new()), fingerprint(&vec![0u8]));
    }

    #[test]
    fn packed_small_writes_keep_every_field() {
        // Eight u8 fields fill one word; a ninth starts the next. Changing any
        // one field must change the fingerprint.
        let base = [3u8, 1, 4, 1, 5, 9, 2, 6, 5, 3];
        let fp = |f: [u8; 10]| {
            let mut h = FpHasher::default();
            for b in f {
                h.write_u8(b);
            }
            h.finish()
        };
        let mut seen = HashSet::from([fp(base)]);
        for i in 0..10 {
            let mut f = base;
            f[i] ^= 0x80;
            assert!(seen.insert(fp(f)), "field {i}");
        }
        // Trailing zeros still count: (0,) and (0, 0) differ.
        assert_ne!(fingerprint(&(0u8,)), fingerprint(&(0u8, 0u8)));
    }

    #[test]
    fn never_zero_and_stable() {
        assert_ne!(fingerprint(&0u64), 0);
        assert_eq!(fingerprint(&(1u8, 2u16)), fingerprint(&(1u8, 2u16)));
    }
}
