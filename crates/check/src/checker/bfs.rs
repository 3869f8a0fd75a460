//! Level-synchronous breadth-first search.
//!
//! Each level's frontier is cut into blocks. A block is expanded in parallel
//! (successors computed, fingerprinted, and filtered against the visited set,
//! which is only read in this phase); then one thread merges the block's
//! results in frontier order, action order, inserting new fingerprints and
//! logging parents. Because the merge order does not depend on the thread
//! count, states get the same indices, the same parents and the same first
//! deadlock with 1 thread or many: the output is byte-identical.
//!
//! A deadlock is recognised when its state is expanded (no enabled action and
//! [`Model::terminal`] says so). All shallower levels were expanded first, so
//! the first one found is at the shortest distance from an initial state.

use rayon::prelude::*;

use super::{Limits, Options, Progress, key_of};
use crate::model::{Model, Terminal};
use crate::report::{BoundHit, Report, Stats, Step, Trace, Verdict};
use crate::table::{FpTable, ParentLog, ROOT};

/// States expanded per parallel block.
const BLOCK: usize = 2048;

struct Child<S> {
    key: u64,
    choice: u32,
    state: S,
}

struct Expansion<S> {
    terminal: Option<Terminal>,
    transitions: u32,
    children: Vec<Child<S>>,
}

/// Successors of `state` not yet in `visited` (duplicates within a block are
/// removed by the merge).
fn expand<M: Model>(
    model: &M,
    state: &M::State,
    visited: &FpTable,
    opts: &Options<'_>,
    buf: &mut Vec<M::Action>,
) -> Expansion<M::State> {
    buf.clear();
    model.actions(state, buf);
    if buf.is_empty() {
        return Expansion {
            terminal: Some(model.terminal(state)),
            transitions: 0,
            children: Vec::new(),
        };
    }
    let local = if opts.por {
        buf.iter().position(|&a| model.is_local(state, a))
    } else {
        None
    };
    let range = match local {
        Some(i) => i..i + 1,
        None => 0..buf.len(),
    };
    let mut children = Vec::with_capacity(range.len());
    for i in range.clone() {
        let next = model.next_state(state, buf[i]);
        let key = key_of(model, &next, opts.symmetry);
        if !visited.contains(key) {
            children.push(Child {
                key,
                choice: i as u32,
                state: next,
            });
        }
    }
    Expansion {
        terminal: None,
        transitions: range.len() as u32,
        children,
    }
}

/// Accounted bytes of one queued state.
fn queued_bytes<M: Model>(model: &M, state: &M::State) -> u64 {
    (std::mem::size_of::<(M::State, u32)>() + model.heap_bytes(state)) as u64
}

struct Search<'m, M: Model> {
    model: &'m M,
    visited: FpTable,
    log: ParentLog,
    limits: Limits,
    transitions: u64,
    peak: u64,
    /// Heap bytes of the current and next frontier (beyond Vec capacity).
    queue_heap: u64,
    queue_slots: u64,
}

impl<M: Model> Search<'_, M> {
    fn memory(&self) -> u64 {
        let slot = std::mem::size_of::<(M::State, u32)>() as u64;
        (self.visited.bytes() + self.log.bytes()) as u64 + self.queue_heap + self.queue_slots * slot
    }

    /// Memory if one more state of `extra` bytes were stored now.
    fn memory_with_one_more(&self, extra: u64) -> u64 {
        let table = if self.visited.needs_growth() {
            // Growing holds the old and the new slots at once.
            self.visited.bytes() + self.visited.bytes_after_growth()
        } else {
            self.visited.bytes()
        };
        let slot = std::mem::size_of::<(M::State, u32)>() as u64;
        (table + self.log.bytes_after_growth()) as u64
            + self.queue_heap
            + self.queue_slots * slot
            + extra
    }

    fn stats(&self, depth: u32) -> Stats {
        Stats {
            states: self.visited.len() as u64,
            transitions: self.transitions,
            depth,
            table_bytes: (self.visited.bytes() + self.log.bytes()) as u64,
            peak_bytes: self.peak,
        }
    }

    /// Store `state` if new; `Err` when a bound forbids it.
    fn admit(
        &mut self,
        key: u64,
        parent: u32,
        choice: u32,
        state: M::State,
        next: &mut Vec<(M::State, u32)>,
    ) -> Result<(), BoundHit> {
        if self.visited.contains(key) {
            return Ok(());
        }
        let bytes = queued_bytes(self.model, &state);
        let need = self.memory_with_one_more(bytes)
            + if next.len() == next.capacity() {
                // A full Vec reallocates to double: both buffers live at once.
                (next.capacity().max(4) * std::mem::size_of::<(M::State, u32)>()) as u64 * 2
            } else {
                0
            };
        if let Some(hit) = self.limits.check(self.visited.len() as u64 + 1, need) {
            return Err(hit);
        }
        if self.visited.len().is_multiple_of(256)
            && let Some(hit) = self.limits.check_time()
        {
            return Err(hit);
        }
        self.visited.insert(key);
        let index = self.log.push(parent, choice);
        let before = next.capacity();
        next.push((state, index));
        self.queue_slots += (next.capacity() - before) as u64;
        self.queue_heap += bytes - std::mem::size_of::<(M::State, u32)>() as u64;
        self.peak = self.peak.max(self.memory());
        Ok(())
    }
}

/// Rebuild the path to logged state `index` by replaying action positions.
pub(crate) fn replay<M: Model>(model: &M, log: &ParentLog, index: u32) -> Trace<M> {
    let path = log.path_to(index);
    let (_, root) = log.get(path[0]);
    let init = model.init_states().swap_remove(root as usize);
    let mut state = init.clone();
    let mut buf = Vec::new();
    let mut steps = Vec::with_capacity(path.len() - 1);
    for &i in &path[1..] {
        let (_, choice) = log.get(i);
        buf.clear();
        model.actions(&state, &mut buf);
        let action = *buf
            .get(choice as usize)
            .expect("Model::actions must be deterministic for trace replay");
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
        loop_start: None,
    }
}

/// Breadth-first search for a shortest deadlock.
pub fn check<M: Model>(model: &M, opts: &Options<'_>) -> Report<M> {
    let pool = if opts.threads > 1 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .ok()
    } else {
        None
    };
    let mut search = Search {
        model,
        visited: FpTable::with_capacity(1 << 12),
        log: ParentLog::default(),
        limits: Limits::new(opts.bounds),
        transitions: 0,
        peak: 0,
        queue_heap: 0,
        queue_slots: 0,
    };
    let finish = |search: &Search<'_, M>, verdict, depth, trace| Report {
        verdict,
        stats: search.stats(depth),
        elapsed: search.limits.elapsed(),
        trace,
    };

    let mut frontier: Vec<(M::State, u32)> = Vec::new();
    for (i, s) in model.init_states().into_iter().enumerate() {
        let key = key_of(model, &s, opts.symmetry);
        if let Err(hit) = search.admit(key, ROOT, i as u32, s, &mut frontier) {
            return finish(&search, Verdict::Inconclusive(hit), 0, None);
        }
    }

    let mut depth: u32 = 0;
    while !frontier.is_empty() {
        let mut next: Vec<(M::State, u32)> = Vec::new();
        for block in frontier.chunks(BLOCK) {
            let results: Vec<Expansion<M::State>> = {
                let visited = &search.visited;
                let work = |block: &[(M::State, u32)]| -> Vec<Expansion<M::State>> {
                    block
                        .par_iter()
                        .with_min_len(32)
                        .map_init(Vec::new, |buf, (s, _)| expand(model, s, visited, opts, buf))
                        .collect()
                };
                match &pool {
                    Some(pool) => pool.install(|| work(block)),
                    None => {
                        let mut buf = Vec::new();
                        block
                            .iter()
                            .map(|(s, _)| expand(model, s, visited, opts, &mut buf))
                            .collect()
                    }
                }
            };
            for ((_, parent), exp) in block.iter().zip(results) {
                search.transitions += u64::from(exp.transitions);
                if exp.terminal == Some(Terminal::Deadlock) {
                    let trace = replay(model, &search.log, *parent);
                    return finish(&search, Verdict::Deadlock, depth, Some(trace));
                }
                for child in exp.children {
                    if let Err(hit) =
                        search.admit(child.key, *parent, child.choice, child.state, &mut next)
                    {
                        return finish(&search, Verdict::Inconclusive(hit), depth, None);
                    }
                }
            }
            if let Some(hit) = search.limits.check_time() {
                return finish(&search, Verdict::Inconclusive(hit), depth, None);
            }
            if let Some(progress) = opts.progress {
                progress(&Progress {
                    states: search.visited.len() as u64,
                    transitions: search.transitions,
                    depth,
                    queue: (frontier.len() + next.len()) as u64,
                    memory: search.memory(),
                    elapsed: search.limits.elapsed(),
                });
            }
        }
        // The expanded level's states leave the queue.
        let freed_heap: u64 = frontier
            .iter()
            .map(|(s, _)| model.heap_bytes(s) as u64)
            .sum();
        search.queue_heap -= freed_heap;
        search.queue_slots -= frontier.capacity() as u64;
        frontier = next;
        depth += 1;
    }
    finish(&search, Verdict::Safe, depth, None)
}
