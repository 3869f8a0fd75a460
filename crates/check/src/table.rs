//! Compact storage for exhaustive search: the visited set of fingerprints and
//! the parent log that rebuilds shortest traces.
//!
//! [`FpTable`] is open addressing over cache-line buckets of eight `u64`
//! fingerprints (0 = empty). A probe reads one 64-byte line and only walks to
//! the next line when that one is full, so the table stays fast up to 90% load.
//! Bucket counts are not powers of two (a fingerprint picks its bucket by the
//! high half of a 128-bit multiply), which lets the table grow by 1.25x
//! instead of 2x: between 72% and 90% full, 8.9–11.1 bytes per state.
//!
//! [`ParentLog`] stores, per discovered state (in discovery order), the index of
//! its parent (`u32`) and the position of the action that led to it in the
//! parent's action list (`u8`, with a side table for the rare position ≥ 255):
//! 5 bytes. A trace is rebuilt by replaying those positions from the initial
//! state, so no state or fingerprint is kept per index.

const BUCKET: usize = 8;
const MAX_LOAD_NUM: usize = 23;
const MAX_LOAD_DEN: usize = 25;

/// One cache line of fingerprints, aligned so a probe touches one line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Bucket([u64; BUCKET]);

const EMPTY: Bucket = Bucket([0; BUCKET]);

/// An open-addressing set of non-zero 64-bit fingerprints.
#[derive(Debug)]
pub struct FpTable {
    slots: Vec<Bucket>,
    buckets: usize,
    len: usize,
}

#[inline]
fn bucket_of(fp: u64, buckets: usize) -> usize {
    ((u128::from(fp) * buckets as u128) >> 64) as usize
}

impl FpTable {
    /// A table sized for about `states` fingerprints.
    pub fn with_capacity(states: usize) -> FpTable {
        let buckets = (states * MAX_LOAD_DEN / MAX_LOAD_NUM)
            .div_ceil(BUCKET)
            .max(4);
        FpTable {
            slots: vec![EMPTY; buckets],
            buckets,
            len: 0,
        }
    }

    /// Number of fingerprints stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the slots.
    pub fn bytes(&self) -> usize {
        self.slots.len() * BUCKET * 8
    }

    /// Bytes the table would hold after its next growth (for budget checks).
    pub fn bytes_after_growth(&self) -> usize {
        Self::grown_buckets(self.buckets) * BUCKET * 8
    }

    /// True when inserting one more fingerprint would first grow the table.
    pub fn needs_growth(&self) -> bool {
        (self.len + 1) * MAX_LOAD_DEN > self.buckets * BUCKET * MAX_LOAD_NUM
    }

    fn grown_buckets(buckets: usize) -> usize {
        buckets + buckets / 5 + 1
    }

    /// Hint the CPU to load `fp`'s bucket now: a merge prefetches a few
    /// fingerprints ahead so probes do not wait on memory one at a time.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let b = bucket_of(fp, self.buckets);
            let ptr = std::ptr::from_ref(&self.slots[b]).cast::<i8>();
            // SAFETY: prefetching is only a hint; `ptr` points into `slots`.
            unsafe {
                std::arch::x86_64::_mm_prefetch(ptr, std::arch::x86_64::_MM_HINT_T0);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = fp;
    }

    /// Is `fp` present? `fp` must be non-zero.
    #[inline]
    pub fn contains(&self, fp: u64) -> bool {
        debug_assert_ne!(fp, 0);
        let mut b = bucket_of(fp, self.buckets);
        loop {
            for &s in &self.slots[b].0 {
                if s == fp {
                    return true;
                }
                if s == 0 {
                    return false;
                }
            }
            b += 1;
            if b == self.buckets {
                b = 0;
            }
        }
    }

    /// Insert `fp` (non-zero); true when it was not present. Grows the table
    /// when needed: callers that bound memory check [`FpTable::needs_growth`]
    /// and [`FpTable::bytes_after_growth`] first.
    #[inline]
    pub fn insert(&mut self, fp: u64) -> bool {
        debug_assert_ne!(fp, 0);
        if self.needs_growth() {
            self.grow();
        }
        if Self::place(&mut self.slots, self.buckets, fp) {
            self.len += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    fn place(slots: &mut [Bucket], buckets: usize, fp: u64) -> bool {
        let mut b = bucket_of(fp, buckets);
        loop {
            for s in slots[b].0.iter_mut() {
                if *s == fp {
                    return false;
                }
                if *s == 0 {
                    *s = fp;
                    return true;
                }
            }
            b += 1;
            if b == buckets {
                b = 0;
            }
        }
    }

    fn grow(&mut self) {
        let buckets = Self::grown_buckets(self.buckets);
        let mut slots = vec![EMPTY; buckets];
        for &fp in self.slots.iter().flat_map(|b| &b.0).filter(|&&s| s != 0) {
            Self::place(&mut slots, buckets, fp);
        }
        self.slots = slots;
        self.buckets = buckets;
    }
}

/// Parent index marking an initial state.
pub const ROOT: u32 = u32::MAX;
const CHOICE_ESCAPE: u8 = u8::MAX;

/// Per discovered state: parent index and action position, 5 bytes each.
#[derive(Debug, Default)]
pub struct ParentLog {
    parents: Vec<u32>,
    choices: Vec<u8>,
    /// (state index, action position) for positions >= 255, in index order.
    wide: Vec<(u32, u32)>,
}

impl ParentLog {
    /// Number of states logged.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// True when nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.parents.is_empty()
    }

    /// Log a state reached from `parent` (or [`ROOT`]) by action position
    /// `choice`; returns its index.
    pub fn push(&mut self, parent: u32, choice: u32) -> u32 {
        let index = self.parents.len() as u32;
        grow_gently(&mut self.parents);
        grow_gently(&mut self.choices);
        self.parents.push(parent);
        if choice < u32::from(CHOICE_ESCAPE) {
            self.choices.push(choice as u8);
        } else {
            self.choices.push(CHOICE_ESCAPE);
            self.wide.push((index, choice));
        }
        index
    }

    /// Bytes held (capacity, not length: that is what the process pays).
    pub fn bytes(&self) -> usize {
        self.parents.capacity() * 4 + self.choices.capacity() + self.wide.capacity() * 8
    }

    /// Bytes the log would hold after its next growth.
    pub fn bytes_after_growth(&self) -> usize {
        let cap = self.parents.capacity();
        if self.parents.len() < cap {
            self.bytes()
        } else {
            self.bytes() + gentle_increment(cap) * 5
        }
    }

    /// `(parent, action position)` of state `index`.
    pub fn get(&self, index: u32) -> (u32, u32) {
        let i = index as usize;
        let choice = match self.choices[i] {
            CHOICE_ESCAPE => {
                let k = self
                    .wide
                    .binary_search_by_key(&index, |&(idx, _)| idx)
                    .expect("escaped choice logged in the side table");
                self.wide[k].1
            }
            c => u32::from(c),
        };
        (self.parents[i], choice)
    }

    /// Indices from a root to `index`, root first.
    pub fn path_to(&self, index: u32) -> Vec<u32> {
        let mut path = vec![index];
        let mut cur = index;
        while self.parents[cur as usize] != ROOT {
            cur = self.parents[cur as usize];
            path.push(cur);
        }
        path.reverse();
        path
    }
}

fn gentle_increment(cap: usize) -> usize {
    (cap / 16).max(256)
}

/// Grow a vector by 1/16 instead of doubling, so spare capacity stays small
/// (large reallocations are page remaps, not copies, on Linux).
fn grow_gently<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact(gentle_increment(v.capacity()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::fingerprint;

    #[test]
    fn insert_reports_new_only_once_across_growth() {
        let mut t = FpTable::with_capacity(16);
        for i in 0u64..100_000 {
            assert!(t.insert(fingerprint(&i)));
        }
        for i in 0u64..100_000 {
            assert!(!t.insert(fingerprint(&i)));
            assert!(t.contains(fingerprint(&i)));
        }
        assert!(!t.contains(fingerprint(&100_000u64)));
        assert_eq!(t.len(), 100_000);
    }

    #[test]
    fn load_stays_between_77_and_92_percent_once_grown() {
        let mut t = FpTable::with_capacity(16);
        for i in 0u64..1_000_000 {
            t.insert(fingerprint(&i));
            if i > 10_000 {
                let per_state = t.bytes() as f64 / t.len() as f64;
                assert!(per_state <= 10.5, "{per_state} bytes/state at {i}");
            }
        }
    }

    #[test]
    fn parent_log_round_trips_wide_choices() {
        let mut log = ParentLog::default();
        let r = log.push(ROOT, 0);
        let a = log.push(r, 300);
        let b = log.push(a, 7);
        assert_eq!(log.get(a), (r, 300));
        assert_eq!(log.get(b), (a, 7));
        assert_eq!(log.path_to(b), vec![r, a, b]);
    }
}
