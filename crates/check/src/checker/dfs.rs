//! Depth-first search for livelocks (non-progress cycles) and deadlocks.
//!
//! A livelock is a reachable cycle of *spinning* states: states where some
//! action is enabled but [`Model::is_progress`] calls none of them progress.
//! That is a retry loop that spins forever while nothing anywhere can make
//! progress. (SPIN's plain non-progress cycles also count a cycle where a
//! progress action stays enabled but the scheduler never picks it; any fair
//! scheduler escapes those, so they are not reported.) Such a cycle exists iff
//! the subgraph of edges leaving spinning states, restricted to reachable
//! states, has one. So an outer DFS over all edges enumerates reachable
//! states, and from each one not yet finished, an inner colour DFS over the
//! non-progress edges looks for a back edge to a state on its own stack.
//! Inner colours persist across roots ("done" states had all their
//! non-progress successors explored), so each state is searched once by each
//! DFS: O(states + transitions) overall. Deadlocks met on the way are
//! reported too, without BFS's shortest-trace guarantee.
//!
//! # Partial-order reduction
//!
//! With [`Options::por`], both searches explore a state `s` through one
//! action `a` alone when [`Model::is_local`] (`{a}` is persistent: on
//! every path from `s` that avoids `a`, `a` stays enabled and commutes
//! with each step) and [`Model::is_invisible`] (on those paths, taking
//! `a` in a spinning state that enables something else leaves a spinning
//! state) both hold. Call a state *good* when an infinite path of
//! spinning states starts there; a livelock exists iff a good state is
//! reachable.
//!
//! *The reduced successor of a good state is good.* Let `π` be an
//! infinite spinning path from `s = s0 -b1-> s1 -b2-> ...`. If `a = b_i`
//! first, commuting it to the front gives `a(s0) -b1-> a(s1) ...
//! a(s_{i-1}) = s_i` and then `π`'s own suffix; if `a` is not on `π`, it
//! stays enabled along it and `a(s0) -b1-> a(s1) -b2-> ...` is a path.
//! Each `s_j` with `a(s_j)` used is spinning and enables `b_{j+1} != a`,
//! so invisibility makes `a(s_j)` spinning: the new path is spinning.
//!
//! *Inner search.* Every good state the inner search expands has an
//! explored successor that is good (its reduced one, or if expanded fully,
//! `π`'s next state), so from a good root the explored graph holds a
//! cycle, and a colour DFS finds a back edge. No cycle proviso is needed
//! there: a reduced successor on the inner stack closes a cycle of
//! spinning states, which is reported, not skipped.
//!
//! *Outer search.* It must reach a good state. Suppose a livelock exists:
//! from the initial state there is an infinite path whose states are
//! spinning from position `d` on. Walk the explored graph along it: at a
//! reduced state take `a`, which keeps an infinite path from `a(s)` that
//! is spinning from some position `<= d` (the argument above, applied to
//! the states `a(s_j)`, `j >= d`, which are spinning and enable
//! `b_{j+1}`); at a fully expanded state take the path's first action,
//! which lowers `d` by one. The cycle proviso (C3) makes every cycle of
//! the explored graph contain a fully expanded state: every cycle of a
//! DFS graph contains a back edge, and when a reduced state's only
//! successor is on the outer stack the state is expanded fully. The walk
//! is infinite in a finite graph, so it goes round cycles and meets fully
//! expanded states again and again: `d` reaches 0 at a state the outer
//! search visits, which is good, and the inner search from there (or
//! from an earlier root that reached it) reports a cycle. Without the
//! proviso a local step can cycle back to where it started (`a` then
//! `a'`) while the step that leads into the spinning states is deferred
//! forever; without invisibility a local step can enable a progress step
//! that stays enabled in every state the reduced search goes on to
//! visit (`tests/livelock_por.rs` has a toy for each).
//!
//! Deadlocks met on the way stay reachable (persistent sets, as for BFS).
//! With symmetry, states are keyed by orbit and both stacks hold orbit
//! keys; the spinning predicate and `is_local` are invariant under the
//! model's automorphisms, so the arguments run on the quotient (where the
//! walk meets the member of an orbit the search stored, or a choice left
//! out as symmetric to a listed one, it renames the rest of its path by
//! the automorphism, which keeps it spinning from the same position).

use std::collections::{HashMap, HashSet};

use super::{Limits, Options, Progress, key_of, replay_actions};
use crate::model::{Model, Terminal};
use crate::report::{BoundHit, Report, Stats, Verdict};
use crate::table::FpTable;

struct Frame<M: Model> {
    state: M::State,
    /// Every enabled action; with a reduction, the chosen one first.
    actions: Vec<M::Action>,
    next: usize,
    /// Explore `actions[..limit]`: 1 when reduced to a persistent `{a}`.
    limit: usize,
    via: Option<M::Action>,
}

struct Search<'a, 'o, M: Model> {
    model: &'a M,
    opts: &'a Options<'o>,
    seen: FpTable,
    np_done: FpTable,
    /// Keys on the outer stack, for the cycle proviso (only with POR).
    outer_stack: HashSet<u64>,
    limits: Limits,
    transitions: u64,
    depth: u32,
    peak: u64,
    frames: u64,
}

/// Actions from an inner root around a cycle, and where the cycle starts.
type Cycle<A> = (Vec<A>, usize);

enum Found<A> {
    Deadlock(Vec<A>),
    Livelock(Vec<A>, usize),
}

impl<M: Model> Search<'_, '_, M> {
    fn memory(&self) -> u64 {
        let frame = std::mem::size_of::<Frame<M>>() as u64 + 64;
        (self.seen.bytes() + self.np_done.bytes()) as u64 + self.frames * frame
    }

    fn guard(&mut self) -> Result<(), BoundHit> {
        let mut need = self.memory();
        for t in [&self.seen, &self.np_done] {
            if t.needs_growth() {
                need += t.bytes_after_growth() as u64;
            }
        }
        self.peak = self.peak.max(need);
        match self.limits.check(self.seen.len() as u64, need) {
            Some(hit) => Err(hit),
            None => Ok(()),
        }
    }

    fn frame(&mut self, state: M::State, via: Option<M::Action>, np_only: bool) -> Frame<M> {
        let mut actions = Vec::new();
        self.model.actions(&state, &mut actions);
        if np_only && actions.iter().any(|&a| self.model.is_progress(&state, a)) {
            // Progress is possible here: not part of any livelock.
            actions.clear();
        }
        let mut limit = actions.len();
        if self.opts.por && limit > 1 {
            let model = self.model;
            let ample = actions
                .iter()
                .position(|&a| model.is_local(&state, a) && model.is_invisible(&state, a));
            if let Some(i) = ample {
                actions[..=i].rotate_right(1);
                limit = 1;
            }
        }
        self.frames += 1;
        Frame {
            state,
            actions,
            next: 0,
            limit,
            via,
        }
    }

    fn stats(&self) -> Stats {
        Stats {
            states: self.seen.len() as u64,
            transitions: self.transitions,
            depth: self.depth,
            table_bytes: (self.seen.bytes() + self.np_done.bytes()) as u64,
            peak_bytes: self.peak,
        }
    }

    /// Inner search from `root` along non-progress edges; on a cycle, the
    /// actions from `root` to the cycle's closing step and the position (in
    /// those actions) where the cycle starts.
    fn non_progress_cycle(
        &mut self,
        root: &M::State,
        root_key: u64,
    ) -> Result<Option<Cycle<M::Action>>, BoundHit> {
        let mut stack = vec![self.frame(root.clone(), None, true)];
        let mut on_stack: HashMap<u64, usize> = HashMap::from([(root_key, 0)]);
        let mut keys = vec![root_key];
        while let Some(top) = stack.last_mut() {
            if top.next == top.limit {
                stack.pop();
                self.frames -= 1;
                if let Some(k) = keys.pop() {
                    on_stack.remove(&k);
                    self.guard()?;
                    self.np_done.insert(k);
                }
                continue;
            }
            let action = top.actions[top.next];
            top.next += 1;
            let next = self.model.next_state(&top.state, action);
            self.transitions += 1;
            let key = key_of(self.model, &next, self.opts.symmetry);
            // A reduced successor on the stack closes a spinning cycle
            // like any other: reported, so no proviso is needed here.
            if let Some(&pos) = on_stack.get(&key) {
                let mut path: Vec<M::Action> = stack.iter().filter_map(|f| f.via).collect();
                path.push(action);
                return Ok(Some((path, pos)));
            }
            if self.np_done.contains(key) {
                continue;
            }
            let frame = self.frame(next, Some(action), true);
            on_stack.insert(key, stack.len());
            keys.push(key);
            stack.push(frame);
        }
        Ok(None)
    }

    fn run(&mut self, init: M::State) -> Result<Option<Found<M::Action>>, BoundHit> {
        let init_key = key_of(self.model, &init, self.opts.symmetry);
        if !self.seen.insert(init_key) {
            return Ok(None);
        }
        let mut stack = vec![self.frame(init, None, false)];
        let mut keys = vec![init_key];
        if self.opts.por {
            self.outer_stack.insert(init_key);
        }
        if let Some(found) = self.visit(&stack, init_key)? {
            return Ok(Some(found));
        }
        while let Some(top) = stack.last_mut() {
            if top.next == top.limit {
                stack.pop();
                self.frames -= 1;
                if let Some(k) = keys.pop() {
                    self.outer_stack.remove(&k);
                }
                continue;
            }
            let action = top.actions[top.next];
            top.next += 1;
            let next = self.model.next_state(&top.state, action);
            self.transitions += 1;
            let key = key_of(self.model, &next, self.opts.symmetry);
            if self.seen.contains(key) {
                // Cycle proviso (C3): a reduced state whose successor is
                // on the stack is expanded fully, so no cycle of the
                // explored graph defers the other actions forever.
                if top.limit < top.actions.len() && self.outer_stack.contains(&key) {
                    top.limit = top.actions.len();
                }
                continue;
            }
            self.guard()?;
            if self.seen.len().is_multiple_of(256)
                && let Some(hit) = self.limits.check_time()
            {
                return Err(hit);
            }
            self.seen.insert(key);
            let frame = self.frame(next, Some(action), false);
            stack.push(frame);
            keys.push(key);
            if self.opts.por {
                self.outer_stack.insert(key);
            }
            self.depth = self.depth.max(stack.len() as u32 - 1);
            if let Some(found) = self.visit(&stack, key)? {
                return Ok(Some(found));
            }
            if let (Some(progress), 0) = (self.opts.progress, self.seen.len() % 4096) {
                progress(&Progress {
                    states: self.seen.len() as u64,
                    transitions: self.transitions,
                    depth: stack.len() as u32,
                    queue: stack.len() as u64,
                    memory: self.memory(),
                    elapsed: self.limits.elapsed(),
                });
            }
        }
        Ok(None)
    }

    /// Checks at a newly reached state (top of `stack`).
    fn visit(
        &mut self,
        stack: &[Frame<M>],
        key: u64,
    ) -> Result<Option<Found<M::Action>>, BoundHit> {
        let top = &stack[stack.len() - 1];
        let path = || stack.iter().filter_map(|f| f.via).collect::<Vec<_>>();
        if top.actions.is_empty() {
            if self.model.terminal(&top.state) == Terminal::Deadlock {
                return Ok(Some(Found::Deadlock(path())));
            }
            return Ok(None);
        }
        if self.np_done.contains(key) {
            return Ok(None);
        }
        let state = top.state.clone();
        Ok(self.non_progress_cycle(&state, key)?.map(|(tail, pos)| {
            let mut full = path();
            let start = full.len() + pos;
            full.extend(tail);
            Found::Livelock(full, start)
        }))
    }
}

/// Depth-first search for a livelock or a deadlock (not necessarily shortest),
/// with partial-order reduction when `opts.por` (see the module docs).
pub fn check<M: Model>(model: &M, opts: &Options<'_>) -> Report<M> {
    let mut search = Search {
        model,
        opts,
        seen: FpTable::with_capacity(256),
        np_done: FpTable::with_capacity(256),
        outer_stack: HashSet::new(),
        limits: Limits::new(opts.bounds),
        transitions: 0,
        depth: 0,
        peak: 0,
        frames: 0,
    };
    for (i, init) in model.init_states().into_iter().enumerate() {
        let outcome = search.run(init);
        let (verdict, trace) = match outcome {
            Ok(None) => continue,
            Err(hit) => (Verdict::Inconclusive(hit), None),
            Ok(Some(Found::Deadlock(actions))) => (
                Verdict::Deadlock,
                Some(replay_actions(model, i, &actions, None)),
            ),
            Ok(Some(Found::Livelock(actions, start))) => (
                Verdict::Livelock,
                Some(replay_actions(model, i, &actions, Some(start))),
            ),
        };
        return Report {
            verdict,
            stats: search.stats(),
            elapsed: search.limits.elapsed(),
            trace,
        };
    }
    Report {
        verdict: Verdict::Safe,
        stats: search.stats(),
        elapsed: search.limits.elapsed(),
        trace: None,
    }
}
