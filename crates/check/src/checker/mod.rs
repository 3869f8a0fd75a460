//! Search strategies over a [`Model`], one file each:
//!
//! - [`bfs`]: level-synchronous breadth-first search, parallel over a rayon
//!   pool; the first deadlock found is a shortest one. The main checker.
//! - [`dfs`]: depth-first search for spinning cycles (livelocks), and
//!   deadlocks without the shortest-trace guarantee.
//! - [`simulation`]: seeded random walks, for spaces too big to exhaust.
//!
//! # Why the reductions are sound
//!
//! **Partial-order reduction** (BFS, on by default): in a state with an
//! action `a` that [`Model::is_local`] marks local, only `a` is explored:
//! `{a}` is a persistent (stubborn) set. Local means: on every path from
//! the state that does not take `a`, no action disables `a` and every
//! action commutes with `a`. The simulator proves it per step from what
//! the step reads and writes (`reclaimscope_sim`'s `sim/por.rs`: scope
//! and repeat bookkeeping, releasing a lock no reclaim source takes, a
//! server or a disk completing a bio, submitting a bio, exiting with no
//! pages; never anything that moves pages, takes a lock or a queued bio,
//! and only the task's own bytes under a policy that reads the world).
//! Take any path from `s` to a deadlock `d`. `d` enables nothing and
//! nothing could disable `a`, so `a` occurs on the path; since it commutes
//! with every action before it, moving it to the front gives a path of the
//! *same length* that starts with `a`, to the same `d`. By induction on
//! length, every deadlock stays reachable in the reduced graph at its
//! original shortest distance (Valmari's stubborn-set theorem for
//! deadlocks; the "ignoring" or cycle proviso is only needed for
//! properties beyond deadlock, since a deadlock ends every path it is on).
//!
//! The livelock search (DFS, same option) needs two more conditions, since
//! hiding actions could break a spinning cycle (a spinning state: some
//! action enabled, none of them progress). *Invisibility*
//! ([`Model::is_invisible`]): taking `a` in a spinning state that enables
//! something else leaves a spinning state; the simulator shows it by `a`
//! enabling no step that could be progress (`sim/por.rs`), every other
//! step's progress being unchanged because `a` writes nothing it reads.
//! Then an infinite path of spinning states from `s` gives one from
//! `a(s)` (commute `a` to the front if it occurs, else shift the path by
//! `a`), so the inner search, which reports any back edge, needs nothing
//! more. *Cycle proviso* (outer search): a reduced state whose successor
//! is on the outer stack is expanded fully, so every cycle of the explored
//! graph has a fully expanded state and no action that leads into the
//! spinning region is deferred forever around a cycle of local steps.
//! The full argument is in [`dfs`]; `tests/livelock_por.rs` has a toy for
//! each condition that loses its livelock without it.
//!
//! **Symmetry reduction** (BFS and DFS, on by default): the visited set keys a
//! state by the fingerprint of [`Model::representative`]
//! ([`Model::representative_fingerprint`]), so states that
//! differ only by a permutation of interchangeable actors are explored once.
//! The simulator's representative (`reclaimscope_sim::symmetry`) only ever
//! renames tasks within a class (same kind, same compiled program, same
//! context; or handler threads of one daemon), and those renamings are
//! automorphisms of the transition relation: `step(p(w), p(c)) ==
//! p(step(w, c))` (`tests/symmetry.rs` checks it on random reachable worlds
//! of random scenarios). An automorphism maps paths to paths of the same
//! length and deadlocks to deadlocks, so every state of one orbit is at the
//! same distance from a deadlock: verdicts and shortest lengths are
//! unchanged, whichever member of an orbit the search continues from. With
//! both reductions, a state either takes a persistent `{a}` (the argument
//! above, in the concrete graph) or all its actions up to symmetry (below),
//! and each stored state is at its orbit's true distance, so the induction
//! goes through unchanged. Queues keep the concrete state, never the
//! representative (packed or not: [`Model::unpack`] gives back exactly
//! what [`Model::pack`] took), so a trace replayed from the parent log is a real
//! execution (`tests/reductions.rs` replays each one on the unreduced
//! simulator). A non-progress cycle in the quotient unrolls, at most
//! `|group|` times, into one in the real graph.
//!
//! The representative also permutes whole device subtrees
//! (`reclaimscope_sim::subtree`: a loop device with its filesystem, its
//! writer, its worker and their reclaim sources, locks and program
//! segments), where no two tasks are alike but the subtrees are. Those
//! renamings are guessed from the scenario's structure and each one is
//! verified on the compiled simulator before use: every table `step`
//! reads (ops, sites, reclaim contexts and the policy's cached answers,
//! task, device and source infos, the initial world) must map onto itself
//! under it, and `step` reads a world only through those tables, treating
//! ids as names (the OOM killer's slot tie-break excepted: no subtree
//! renaming then). So a verified renaming is an automorphism like the
//! task renamings above, and a wrong guess only loses reduction.
//! The representative is the subtree-sorted world with its task classes
//! then sorted: a composition of automorphisms, so always in the orbit,
//! which is all the argument above needs (a less canonical form only
//! stores an orbit more than once).
//!
//! With symmetry on, the simulator's model also lists only one of the
//! choices that identical idle tasks offer (`SimModel::symmetric_actions`):
//! when swapping two tasks leaves the state unchanged, a choice naming one
//! is the swap's image of the same choice naming the other, and its
//! successor is in the same orbit, which the search reaches anyway.

pub mod bfs;
pub mod dfs;
pub mod simulation;
mod store;

use std::time::{Duration, Instant};

use crate::model::Model;
use crate::report::{BoundHit, Step, Trace};

/// The visited-set key of a state: its representative's fingerprint.
/// Never 0 (0 marks an empty table slot).
#[inline]
pub(crate) fn key_of<M: Model>(model: &M, state: &M::State, symmetry: bool) -> u64 {
    let fp = if symmetry {
        model.representative_fingerprint(state)
    } else {
        model.fingerprint(state)
    };
    fp.max(1)
}

/// Replay `actions` from initial state number `init`, describing each step.
pub(crate) fn replay_actions<M: Model>(
    model: &M,
    init: usize,
    actions: &[M::Action],
    loop_start: Option<usize>,
) -> Trace<M> {
    let init = model.init_states().swap_remove(init);
    let mut state = init.clone();
    let mut steps = Vec::with_capacity(actions.len());
    for &action in actions {
        steps.push(Step {
            action,
            description: model.describe(&state, action),
        });
        state = model.next_state(&state, action);
    }
    Trace {
        init,
        steps,
        last: state,
        loop_start,
    }
}

/// Limits on a search; `None` = unbounded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bounds {
    /// Stop after storing this many distinct states.
    pub max_states: Option<u64>,
    /// Stop before accounted memory (visited set, parent log, queue) would
    /// exceed this many bytes.
    pub max_memory: Option<u64>,
    /// Stop after this much wall time.
    pub time_limit: Option<Duration>,
}

/// A snapshot for progress displays.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Distinct states stored so far.
    pub states: u64,
    /// Transitions generated so far.
    pub transitions: u64,
    /// Current BFS level (or DFS stack depth).
    pub depth: u32,
    /// States waiting to be expanded.
    pub queue: u64,
    /// Accounted bytes in use.
    pub memory: u64,
    /// Time since the search started.
    pub elapsed: Duration,
}

/// How to search.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Worker threads for BFS (1 = run on the calling thread).
    pub threads: usize,
    /// Partial-order reduction (see the module docs).
    pub por: bool,
    /// Symmetry reduction (see the module docs).
    pub symmetry: bool,
    /// Bounds.
    pub bounds: Bounds,
    /// Called now and then from the searching thread.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            threads: 1,
            por: true,
            symmetry: true,
            bounds: Bounds::default(),
            progress: None,
        }
    }
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("threads", &self.threads)
            .field("por", &self.por)
            .field("symmetry", &self.symmetry)
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

/// Bound checks shared by the strategies.
pub(crate) struct Limits {
    bounds: Bounds,
    start: Instant,
}

impl Limits {
    pub(crate) fn new(bounds: Bounds) -> Limits {
        Limits {
            bounds,
            start: Instant::now(),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Would holding `states` states in `bytes` bytes break a bound? (The
    /// clock is read separately, less often: [`Limits::check_time`].)
    pub(crate) fn check(&self, states: u64, bytes: u64) -> Option<BoundHit> {
        if self.bounds.max_states.is_some_and(|m| states > m) {
            return Some(BoundHit::States);
        }
        if self.bounds.max_memory.is_some_and(|m| bytes > m) {
            return Some(BoundHit::Memory);
        }
        None
    }

    /// Is there a state or memory bound to check per state?
    pub(crate) fn bounds_space(&self) -> bool {
        self.bounds.max_states.is_some() || self.bounds.max_memory.is_some()
    }

    pub(crate) fn check_time(&self) -> Option<BoundHit> {
        match self.bounds.time_limit {
            Some(t) if self.start.elapsed() >= t => Some(BoundHit::Time),
            _ => None,
        }
    }
}

/// Parse a size such as `512K`, `64M`, `1.5G`, `4096` (bytes; binary units,
/// an optional trailing `B`/`iB`). Used for `--max-memory`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let stripped = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (num, mult) = match stripped.chars().last() {
        Some('K') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('M') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('G') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('T') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid size `{text}` (expected e.g. 4096, 512K, 64M, 2G)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "invalid size `{text}`: must be a non-negative number"
        ));
    }
    Ok((value * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1M").is_err());
    }
}
