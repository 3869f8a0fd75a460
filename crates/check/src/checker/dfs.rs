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

use std::collections::HashMap;

use super::{Limits, Options, Progress, key_of, replay_actions};
use crate::model::{Model, Terminal};
use crate::report::{BoundHit, Report, Stats, Verdict};
use crate::table::FpTable;

struct Frame<M: Model> {
    state: M::State,
    actions: Vec<M::Action>,
    next: usize,
    via: Option<M::Action>,
}

struct Search<'a, 'o, M: Model> {
    model: &'a M,
    opts: &'a Options<'o>,
    seen: FpTable,
    np_done: FpTable,
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
        self.frames += 1;
        Frame {
            state,
            actions,
            next: 0,
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
            if top.next == top.actions.len() {
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
        if let Some(found) = self.visit(&stack, init_key)? {
            return Ok(Some(found));
        }
        while let Some(top) = stack.last_mut() {
            if top.next == top.actions.len() {
                stack.pop();
                self.frames -= 1;
                continue;
            }
            let action = top.actions[top.next];
            top.next += 1;
            let next = self.model.next_state(&top.state, action);
            self.transitions += 1;
            let key = key_of(self.model, &next, self.opts.symmetry);
            if self.seen.contains(key) {
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

/// Depth-first search for a livelock or a deadlock (not necessarily shortest).
/// Partial-order reduction is not applied (see [`crate::checker`]).
pub fn check<M: Model>(model: &M, opts: &Options<'_>) -> Report<M> {
    let mut search = Search {
        model,
        opts,
        seen: FpTable::with_capacity(256),
        np_done: FpTable::with_capacity(256),
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
