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

/// States expanded per parallel task.
const CHUNK: usize = 32;
/// The largest block; a level's blocks start at [`FIRST_BLOCK`] and double,
/// so small levels and tight memory bounds get small buffers.
const MAX_BLOCK: usize = 4096;
const FIRST_BLOCK: usize = 64;
/// How many fingerprints ahead the merge prefetches table buckets.
const PREFETCH: usize = 16;

struct Child<S> {
    key: u64,
    choice: u32,
    state: S,
}

/// What expanding one frontier state produced.
struct Meta {
    terminal: Option<Terminal>,
    transitions: u32,
    children: u32,
}

/// The expansion of a run of consecutive frontier states, in order.
struct Batch<S> {
    metas: Vec<Meta>,
    children: Vec<Child<S>>,
}

/// Expand consecutive frontier states; successors are fingerprinted here (in
/// parallel), deduplicated by the merge.
fn expand_chunk<M: Model>(
    model: &M,
    chunk: &[(M::State, u32)],
    opts: &Options<'_>,
) -> Batch<M::State> {
    let mut buf = Vec::new();
    let mut batch = Batch {
        metas: Vec::with_capacity(chunk.len()),
        children: Vec::with_capacity(chunk.len() * 2),
    };
    for (state, _) in chunk {
        buf.clear();
        model.actions(state, &mut buf);
        if buf.is_empty() {
            batch.metas.push(Meta {
                terminal: Some(model.terminal(state)),
                transitions: 0,
                children: 0,
            });
            continue;
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
        batch.metas.push(Meta {
            terminal: None,
            transitions: range.len() as u32,
            children: range.len() as u32,
        });
        for i in range {
            let next = model.next_state(state, buf[i]);
            batch.children.push(Child {
                key: key_of(model, &next, opts.symmetry),
                choice: i as u32,
                state: next,
            });
        }
    }
    batch
}

fn expand_block<M: Model>(
    model: &M,
    block: &[(M::State, u32)],
    opts: &Options<'_>,
    parallel: bool,
) -> Vec<Batch<M::State>> {
    if parallel {
        block
            .par_chunks(CHUNK)
            .map(|c| expand_chunk(model, c, opts))
            .collect()
    } else {
        vec![expand_chunk(model, block, opts)]
    }
}

/// A BFS level: states in discovery order, in segments that are allocated
/// once at their final size (64, 128, ... up to [`MAX_BLOCK`] entries). No
/// reallocation ever copies queued states, and each segment is one block of
/// the next level's expansion.
struct Queue<S> {
    segments: Vec<Vec<(S, u32)>>,
    len: usize,
}

impl<S> Queue<S> {
    fn new() -> Queue<S> {
        Queue {
            segments: Vec::new(),
            len: 0,
        }
    }

    /// Entries the next segment will hold, if the next push allocates one.
    fn next_allocation(&self) -> Option<usize> {
        match self.segments.last() {
            Some(seg) if seg.len() < seg.capacity() => None,
            Some(seg) => Some((seg.capacity() * 2).min(MAX_BLOCK)),
            None => Some(FIRST_BLOCK),
        }
    }

    /// Append; returns the slots newly allocated.
    fn push(&mut self, item: (S, u32)) -> usize {
        let added = self.next_allocation();
        if let Some(n) = added {
            self.segments.push(Vec::with_capacity(n));
        }
        if let Some(seg) = self.segments.last_mut() {
            seg.push(item);
        }
        self.len += 1;
        added.unwrap_or(0)
    }

    fn slots(&self) -> usize {
        self.segments.iter().map(Vec::capacity).sum()
    }
}

/// A block and its expansion, waiting to be merged.
type Expanded<'f, S> = (&'f [(S, u32)], Vec<Batch<S>>);

/// Why a merge stopped the search.
enum Stop {
    /// The frontier state with this index is a deadlock.
    Deadlock(u32),
    Bound(BoundHit),
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
    /// Bytes of the block results being merged.
    pending: u64,
}

impl<M: Model> Search<'_, M> {
    fn memory(&self) -> u64 {
        let slot = std::mem::size_of::<(M::State, u32)>() as u64;
        (self.visited.bytes() + self.log.bytes()) as u64 + self.queue_heap + self.queue_slots * slot
    }

    fn progress(&self, opts: &Options<'_>, depth: u32, queue: usize) {
        if let Some(progress) = opts.progress {
            progress(&Progress {
                states: self.visited.len() as u64,
                transitions: self.transitions,
                depth,
                queue: queue as u64,
                memory: self.memory(),
                elapsed: self.limits.elapsed(),
            });
        }
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
            + self.pending
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
        next: &mut Queue<M::State>,
    ) -> Result<(), BoundHit> {
        let bytes = queued_bytes(self.model, &state);
        let need = self.memory_with_one_more(bytes)
            + next.next_allocation().map_or(0, |n| {
                (n * std::mem::size_of::<(M::State, u32)>()) as u64
            });
        // Checked as if the state were new; a bound only counts when it is.
        if let Some(hit) = self.limits.check(self.visited.len() as u64 + 1, need)
            && !self.visited.contains(key)
        {
            return Err(hit);
        }
        if !self.visited.insert(key) {
            return Ok(());
        }
        if self.visited.len().is_multiple_of(1024)
            && let Some(hit) = self.limits.check_time()
        {
            return Err(hit);
        }
        let index = self.log.push(parent, choice);
        self.queue_slots += next.push((state, index)) as u64;
        self.queue_heap += bytes - std::mem::size_of::<(M::State, u32)>() as u64;
        self.peak = self.peak.max(self.memory() + self.pending);
        Ok(())
    }

    /// Merge a block's expansion in frontier order.
    fn merge(
        &mut self,
        block: &[(M::State, u32)],
        batches: Vec<Batch<M::State>>,
        next: &mut Queue<M::State>,
    ) -> Result<(), Stop> {
        self.pending = batches
            .iter()
            .flat_map(|b| &b.children)
            .map(|c| queued_bytes(self.model, &c.state))
            .sum();
        let mut parents = block.iter();
        for batch in batches {
            let keys: Vec<u64> = batch.children.iter().map(|c| c.key).collect();
            for &key in keys.iter().take(PREFETCH) {
                self.visited.prefetch(key);
            }
            let mut children = batch.children.into_iter().enumerate();
            for meta in batch.metas {
                let parent = parents.next().map_or(ROOT, |(_, index)| *index);
                self.transitions += u64::from(meta.transitions);
                if meta.terminal == Some(Terminal::Deadlock) {
                    return Err(Stop::Deadlock(parent));
                }
                for (i, child) in children.by_ref().take(meta.children as usize) {
                    if let Some(&ahead) = keys.get(i + PREFETCH) {
                        self.visited.prefetch(ahead);
                    }
                    self.admit(child.key, parent, child.choice, child.state, next)
                        .map_err(Stop::Bound)?;
                }
            }
        }
        self.pending = 0;
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
        visited: FpTable::with_capacity(256),
        log: ParentLog::default(),
        limits: Limits::new(opts.bounds),
        transitions: 0,
        peak: 0,
        queue_heap: 0,
        queue_slots: 0,
        pending: 0,
    };
    let finish = |search: &Search<'_, M>, verdict, depth, trace| Report {
        verdict,
        stats: search.stats(depth),
        elapsed: search.limits.elapsed(),
        trace,
    };

    let mut frontier: Queue<M::State> = Queue::new();
    for (i, s) in model.init_states().into_iter().enumerate() {
        let key = key_of(model, &s, opts.symmetry);
        if let Err(hit) = search.admit(key, ROOT, i as u32, s, &mut frontier) {
            return finish(&search, Verdict::Inconclusive(hit), 0, None);
        }
    }

    let mut depth: u32 = 0;
    while frontier.len > 0 {
        let mut next: Queue<M::State> = Queue::new();
        let blocks: Vec<&[(M::State, u32)]> =
            frontier.segments.iter().map(Vec::as_slice).collect();
        // Pipeline: merge block k on one thread while block k+1 is expanded
        // by the others. Merging stays in frontier order, so the result does
        // not depend on the thread count.
        let mut pending: Option<Expanded<'_, M::State>> = None;
        for k in 0..=blocks.len() {
            let to_expand = blocks.get(k).copied();
            let merging = pending.take();
            let search_ref = &mut search;
            let next_ref = &mut next;
            let merge = move || match merging {
                Some((block, batches)) => search_ref.merge(block, batches, next_ref),
                None => Ok(()),
            };
            let expand = |parallel| to_expand.map(|b| (b, expand_block(model, b, opts, parallel)));
            let (merged, expanded) = match &pool {
                Some(pool) => pool.install(|| rayon::join(merge, || expand(true))),
                None => (merge(), expand(false)),
            };
            match merged {
                Ok(()) => {}
                Err(Stop::Deadlock(index)) => {
                    let trace = replay(model, &search.log, index);
                    return finish(&search, Verdict::Deadlock, depth, Some(trace));
                }
                Err(Stop::Bound(hit)) => {
                    return finish(&search, Verdict::Inconclusive(hit), depth, None);
                }
            }
            if let Some(hit) = search.limits.check_time() {
                return finish(&search, Verdict::Inconclusive(hit), depth, None);
            }
            search.progress(opts, depth, frontier.len + next.len);
            pending = expanded;
        }
        // The expanded level's states leave the queue.
        let freed_heap: u64 = frontier
            .segments
            .iter()
            .flatten()
            .map(|(s, _)| model.heap_bytes(s) as u64)
            .sum();
        search.queue_heap -= freed_heap;
        search.queue_slots -= frontier.slots() as u64;
        frontier = next;
        depth += 1;
    }
    finish(&search, Verdict::Safe, depth, None)
}
