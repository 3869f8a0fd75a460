//! What a search found: a verdict, the counters behind it, and a trace.

use crate::model::Model;
use std::time::Duration;

/// Which bound stopped a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundHit {
    /// `max_states` distinct states were stored.
    States,
    /// Storing more would exceed `max_memory` bytes.
    Memory,
    /// `time_limit` elapsed.
    Time,
    /// Random walks ended: sampling cannot prove the absence of a deadlock.
    Samples,
}

impl BoundHit {
    /// The option name a user sets to move this bound.
    pub fn option(self) -> &'static str {
        match self {
            BoundHit::States => "--max-states",
            BoundHit::Memory => "--max-memory",
            BoundHit::Time => "--time-limit",
            BoundHit::Samples => "--walks",
        }
    }
}

/// The answer of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every reachable state was explored and none is a deadlock (nor, for
    /// the livelock search, lies on a non-progress cycle).
    Safe,
    /// A reachable final state where something has not finished.
    Deadlock,
    /// A reachable cycle made only of non-progress actions.
    Livelock,
    /// A bound stopped the search before it could decide.
    Inconclusive(BoundHit),
}

impl Verdict {
    /// The lowercase word used in text and JSON output.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Deadlock => "deadlock",
            Verdict::Livelock => "livelock",
            Verdict::Inconclusive(_) => "inconclusive",
        }
    }
}

/// Counters of a finished search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct states stored (after symmetry reduction).
    pub states: u64,
    /// Transitions taken (successors generated).
    pub transitions: u64,
    /// BFS: levels fully expanded, so no deadlock is reachable in fewer steps
    /// (for a deadlock: the trace's length). DFS and walks: deepest path.
    pub depth: u32,
    /// Bytes held by the visited set and the parent log at the end.
    pub table_bytes: u64,
    /// Highest accounted memory (visited set + parent log + queue) seen.
    pub peak_bytes: u64,
}

impl Stats {
    /// Visited-set plus parent-log bytes per stored state.
    pub fn bytes_per_state(&self) -> f64 {
        if self.states == 0 {
            0.0
        } else {
            self.table_bytes as f64 / self.states as f64
        }
    }
}

/// One step of a trace: the action and its one-line description.
#[derive(Clone, Debug)]
pub struct Step<A> {
    /// The action taken.
    pub action: A,
    /// [`Model::describe`] of it in the state it was taken from.
    pub description: String,
}

/// A path from an initial state, rebuilt by replaying the model.
pub struct Trace<M: Model> {
    /// The initial state the path starts from.
    pub init: M::State,
    /// The actions, in order.
    pub steps: Vec<Step<M::Action>>,
    /// The state after the last step (the deadlock, or the cycle's entry).
    pub last: M::State,
    /// Livelock only: steps `loop_start..` form the non-progress cycle that
    /// returns to the state reached after `loop_start` steps (or, with
    /// symmetry reduction, to a permutation of it).
    pub loop_start: Option<usize>,
}

/// The outcome of a search.
pub struct Report<M: Model> {
    /// The verdict.
    pub verdict: Verdict,
    /// Counters.
    pub stats: Stats,
    /// Wall time.
    pub elapsed: Duration,
    /// The counterexample, for deadlock and livelock.
    pub trace: Option<Trace<M>>,
}
