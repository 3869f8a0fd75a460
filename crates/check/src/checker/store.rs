//! Where the breadth-first search keeps the states of a level while their
//! successors wait to be expanded: as they are, or in the model's packed
//! form ([`Model::pack`]) when it has one.
//!
//! A level of a large search holds millions of states; a storage-stack
//! world is hundreds of bytes of fixed arrays, most of them equal to the
//! initial world's, and packs into a fraction of that. Packing costs one
//! encode per stored state and one decode per expansion of its
//! successors, small against building and canonicalising the successors.

use crate::model::Model;

/// One batch's stored states, in push order.
pub(super) enum Store<S> {
    Plain(Vec<S>),
    Packed { bytes: Vec<u8>, ends: Vec<u32> },
}

impl<S: Clone> Store<S> {
    /// An empty store: packed when the model packs its states.
    pub(super) fn new(packs: bool) -> Store<S> {
        if packs {
            Store::Packed {
                bytes: Vec::new(),
                ends: Vec::new(),
            }
        } else {
            Store::Plain(Vec::new())
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Store::Plain(v) => v.len(),
            Store::Packed { ends, .. } => ends.len(),
        }
    }

    /// Empty it, keeping its buffers.
    pub(super) fn clear(&mut self) {
        match self {
            Store::Plain(v) => v.clear(),
            Store::Packed { bytes, ends } => {
                bytes.clear();
                ends.clear();
            }
        }
    }

    /// Reserve room for `n` states (a packed store guesses their size from
    /// the ones it held before).
    pub(super) fn reserve(&mut self, n: usize) {
        match self {
            Store::Plain(v) => {
                if v.capacity() < n {
                    // A fresh buffer: reserving on the old one would copy its bytes.
                    *v = Vec::with_capacity(n);
                }
            }
            Store::Packed { ends, .. } => ends.reserve(n),
        }
    }

    /// Store `state`; its index is the old [`Store::len`].
    pub(super) fn push<M: Model<State = S>>(&mut self, model: &M, state: &S) {
        match self {
            Store::Plain(v) => v.push(state.clone()),
            Store::Packed { bytes, ends } => {
                // The search asked once whether the model packs (`packs`).
                let _packed = model.pack(state, bytes);
                ends.push(bytes.len() as u32);
            }
        }
    }

    /// State `i`: borrowed when stored as it is, else unpacked into
    /// `cache`, which remembers the last index it holds (successors of
    /// one state are expanded one after another).
    pub(super) fn get<'a, M: Model<State = S>>(
        &'a self,
        model: &M,
        i: u32,
        cache: &'a mut Cache<S>,
    ) -> &'a S {
        match self {
            Store::Plain(v) => &v[i as usize],
            Store::Packed { bytes, ends } => {
                let Cache { at, state } = cache;
                // Any state to unpack over: the model's first initial one.
                let out = state.get_or_insert_with(|| model.init_states().swap_remove(0));
                if *at != Some(i) {
                    let i = i as usize;
                    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                    model.unpack(&bytes[start..ends[i] as usize], out);
                }
                *at = Some(i);
                out
            }
        }
    }

    /// Bytes held, for the memory bound.
    pub(super) fn bytes<M: Model<State = S>>(&self, model: &M) -> u64 {
        match self {
            Store::Plain(v) => {
                let heap: usize = v.iter().map(|s| model.heap_bytes(s)).sum();
                (v.capacity() * std::mem::size_of::<S>() + heap) as u64
            }
            Store::Packed { bytes, ends } => {
                (bytes.capacity() + ends.capacity() * std::mem::size_of::<u32>()) as u64
            }
        }
    }
}

/// The last packed state [`Store::get`] unpacked, and its index.
pub(super) struct Cache<S> {
    at: Option<u32>,
    state: Option<S>,
}

impl<S> Default for Cache<S> {
    fn default() -> Self {
        Cache {
            at: None,
            state: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Terminal;

    /// Counts that pack to their decimal digits: states of different
    /// packed lengths, so `ends` must be right.
    struct Digits;

    impl Model for Digits {
        type State = u64;
        type Action = ();
        fn init_states(&self) -> Vec<u64> {
            vec![0]
        }
        fn actions(&self, _: &u64, _: &mut Vec<()>) {}
        fn next_state(&self, s: &u64, _: ()) -> u64 {
            *s
        }
        fn terminal(&self, _: &u64) -> Terminal {
            Terminal::Completed
        }
        fn pack(&self, s: &u64, out: &mut Vec<u8>) -> bool {
            out.extend_from_slice(s.to_string().as_bytes());
            true
        }
        fn unpack(&self, bytes: &[u8], out: &mut u64) {
            *out = std::str::from_utf8(bytes).unwrap().parse().unwrap();
        }
    }

    #[test]
    fn packed_and_plain_stores_give_back_what_was_pushed() {
        let values = [7u64, 123_456, 0, 42, 99_999_999_999, 5];
        for packs in [false, true] {
            let mut store = Store::new(packs);
            for v in &values {
                store.push(&Digits, v);
            }
            assert_eq!(store.len(), values.len());
            let mut cache = Cache::default();
            // Out of order and repeated, through one cache.
            for i in [3usize, 0, 0, 5, 1, 4, 2, 3] {
                assert_eq!(
                    *store.get(&Digits, i as u32, &mut cache),
                    values[i],
                    "{packs} {i}"
                );
            }
            store.clear();
            assert_eq!(store.len(), 0);
            store.push(&Digits, &11);
            assert_eq!(*store.get(&Digits, 0, &mut Cache::default()), 11);
        }
    }
}
