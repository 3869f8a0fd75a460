//! The [`Model`] trait: what a checker needs to know about a transition system.
//!
//! The split follows stateright: a model only says which states exist and how
//! they move; the strategies in [`crate::checker`] decide how to explore them.
//! Every reduction hook has a default that disables the reduction, so a model
//! that implements only the four required methods is explored exhaustively.

use std::hash::Hash;

/// How a state with no enabled action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminal {
    /// Every actor finished: a good end.
    Completed,
    /// Something has not finished and nothing can move: a deadlock.
    Deadlock,
}

/// A transition system explored by the checkers.
///
/// Contract: `actions` and `next_state` are deterministic functions of their
/// arguments (the checker replays choices by index to rebuild traces), and a
/// state with no action is final: [`Model::terminal`] classifies it.
pub trait Model: Sync {
    /// A state: hashed into a 64-bit fingerprint for the visited set.
    type State: Clone + Hash + Send + Sync;
    /// One nondeterministic decision enabled in a state.
    type Action: Copy + Send + Sync + std::fmt::Debug;

    /// The states exploration starts from.
    fn init_states(&self) -> Vec<Self::State>;

    /// Every action enabled in `state`, appended to `out` (cleared by the caller).
    fn actions(&self, state: &Self::State, out: &mut Vec<Self::Action>);

    /// The state after taking `action` in `state`.
    fn next_state(&self, state: &Self::State, action: Self::Action) -> Self::State;

    /// [`Model::next_state`] written over `out`, which holds a clone of
    /// `state` on entry. The BFS clones each parent straight into its queue
    /// and steps it there; a model whose states are large can override this
    /// to skip building the successor elsewhere and moving it in.
    fn next_state_in_place(
        &self,
        state: &Self::State,
        action: Self::Action,
        out: &mut Self::State,
    ) {
        *out = self.next_state(state, action);
    }

    /// Classify a state that has no enabled action.
    fn terminal(&self, state: &Self::State) -> Terminal;

    /// Partial-order reduction hint: on every path from `state` that does not
    /// take `action`, no action disables it and every action commutes with
    /// it (`{action}` is a persistent set). When true, the checker may
    /// explore `action` alone from `state` (see `crate::checker` for why that
    /// keeps every deadlock and every shortest deadlock length).
    fn is_local(&self, _state: &Self::State, _action: Self::Action) -> bool {
        false
    }

    /// Livelock-search hint for partial-order reduction, asked only of an
    /// action that [`Model::is_local`] accepts in `state`: taking `action`
    /// never turns a spinning state (some action enabled, none progress)
    /// into one that is not. Precisely: for every state `x` reachable from
    /// `state` on a path that does not take `action`, if `x` is spinning
    /// and enables some action besides `action`, then
    /// `next_state(x, action)` is spinning. A model usually shows it by
    /// the step enabling nothing that could be progress (every other
    /// action's enabledness and progress are unchanged, by locality), or
    /// by `action` being progress wherever it is enabled (then no such `x`
    /// is spinning). The livelock search explores such an action alone
    /// (see `crate::checker`). Default: no action qualifies, so the
    /// livelock search is unreduced.
    fn is_invisible(&self, _state: &Self::State, _action: Self::Action) -> bool {
        false
    }

    /// Liveness hint: does taking `action` count as progress? A reachable cycle
    /// made only of non-progress actions is a livelock. Default: everything is
    /// progress, so no livelock can be reported.
    fn is_progress(&self, _state: &Self::State, _action: Self::Action) -> bool {
        true
    }

    /// Symmetry reduction: a canonical representative of `state`'s class under
    /// permutations of interchangeable actors, or `None` when `state` is its own.
    /// Must map every member of a class to the same representative, and the
    /// permutations must be automorphisms of the transition relation.
    fn representative(&self, _state: &Self::State) -> Option<Self::State> {
        None
    }

    /// The fingerprint of [`Model::representative`] (of `state` itself when
    /// it is its own): the visited-set key under symmetry reduction. A
    /// model whose canonical form is a renaming can hash `state` through
    /// the renaming instead of building the representative; it must return
    /// what the default returns.
    fn representative_fingerprint(&self, state: &Self::State) -> u64 {
        match self.representative(state) {
            Some(rep) => self.fingerprint(&rep),
            None => self.fingerprint(state),
        }
    }

    /// The 64-bit fingerprint the visited set stores for `state`. Default:
    /// [`crate::fingerprint::fingerprint`] through `State`'s `Hash`. A model
    /// may override it with a faster hash of the same information; it must
    /// give equal states equal fingerprints and distinct ones a collision
    /// chance about as small as a strong 64-bit hash's (0 is allowed: the
    /// checker remaps it).
    fn fingerprint(&self, state: &Self::State) -> u64 {
        crate::fingerprint::fingerprint(state)
    }

    /// One line of a trace for `action` taken in `state`.
    fn describe(&self, _state: &Self::State, action: Self::Action) -> String {
        format!("{action:?}")
    }

    /// A compact form of `state` for the breadth-first queue, appended to
    /// `out`; `false` (the default) when the model has none, and states
    /// wait in the queue as they are. A model that packs one state packs
    /// all of them, and [`Model::unpack`] must give each back exactly.
    fn pack(&self, _state: &Self::State, _out: &mut Vec<u8>) -> bool {
        false
    }

    /// The state [`Model::pack`] wrote into `bytes`, over `out`. Called
    /// only when `pack` returns `true`.
    fn unpack(&self, _bytes: &[u8], _out: &mut Self::State) {}

    /// Bytes a state owns on the heap besides `size_of::<State>()`, for the
    /// memory bound's accounting of the search queue.
    fn heap_bytes(&self, _state: &Self::State) -> usize {
        0
    }
}
