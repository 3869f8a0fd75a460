//! Level-synchronous breadth-first search.
//!
//! A level's frontier is a list of batches of states. A block of batches is
//! expanded in parallel (successors computed and fingerprinted by the rayon
//! pool) while one thread merges the previous block's results in frontier
//! order, action order: it inserts new fingerprints into the visited set and
//! logs parents. Because the merge order does not depend on the thread count,
//! states get the same indices, the same parents and the same first deadlock
//! with 1 thread or many: the output is byte-identical.
//!
//! States are never copied after the step function returns them: a merged
//! batch of successors *is* the next level's storage, with duplicates marked
//! rather than removed (worlds of a storage stack are hundreds of bytes, and
//! moving them dominated the search before).
//!
//! A deadlock is recognised when its state is expanded (no enabled action and
//! [`Model::terminal`] says so). All shallower levels were expanded first, so
//! the first one found is at the shortest distance from an initial state.

use rayon::prelude::*;

use super::{Limits, Options, Progress, key_of};
use crate::model::{Model, Terminal};
use crate::report::{BoundHit, Report, Stats, Step, Trace, Verdict};
use crate::table::{FpTable, ParentLog, ROOT};

/// Frontier entries expanded per parallel task. Large, because a task drops
/// the successors that coincide within its run (see [`KeySet`]) before the
/// serial merge sees them: 512 entries catch ~35-40% of all transitions on
/// interleaving-heavy models, 32 only half as many.
const CHUNK: usize = 512;
/// A level's blocks start at this many entries and double up to [`MAX_BLOCK`],
/// so small levels and tight memory bounds get small buffers.
const FIRST_BLOCK: usize = 64;
const MAX_BLOCK: usize = 4096;
/// How many fingerprints ahead the merge prefetches table buckets.
const PREFETCH: usize = 16;
/// A level at most this wide is expanded on the calling thread.
const SEQUENTIAL_LEVEL: usize = 256;
/// `Child::slot` of a duplicate.
const DROPPED: u32 = u32::MAX;

/// A successor. Before the merge, `slot` is the action's position in its
/// parent's action list; after, the state's index in the parent log (or
/// [`DROPPED`] for a state seen before).
struct Child<S> {
    key: u64,
    slot: u32,
    state: S,
}

/// What expanding one frontier state produced.
struct Meta {
    parent: u32,
    terminal: Option<Terminal>,
    transitions: u32,
    children: u32,
}

/// Successors of a run of frontier states, in order; after the merge, a
/// batch of the next level.
struct Batch<S> {
    metas: Vec<Meta>,
    children: Vec<Child<S>>,
}

impl<S> Batch<S> {
    fn live(&self) -> impl Iterator<Item = &Child<S>> {
        self.children.iter().filter(|c| c.slot != DROPPED)
    }
}

/// Expand frontier entries; successors are fingerprinted here (in
/// parallel) and deduplicated by the merge.
///
/// Two passes: the first lists every entry's actions and picks the ones to
/// explore, so `children` is sized once (growing it would copy every world
/// already in it); the second clones each parent straight into its slot
/// and steps it there.
fn expand<M: Model>(
    model: &M,
    entries: &[Child<M::State>],
    opts: &Options<'_>,
    mut children: Vec<Child<M::State>>,
) -> Batch<M::State> {
    let mut buf = Vec::new();
    // (entry, its meta, action position, action) of every successor to build.
    let mut todo: Vec<(u32, u32, u32, M::Action)> = Vec::with_capacity(entries.len() * 4);
    let mut metas = Vec::with_capacity(entries.len());
    for (e, entry) in entries.iter().enumerate() {
        if entry.slot == DROPPED {
            continue;
        }
        let state = &entry.state;
        buf.clear();
        model.actions(state, &mut buf);
        if buf.is_empty() {
            metas.push(Meta {
                parent: entry.slot,
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
        metas.push(Meta {
            parent: entry.slot,
            terminal: None,
            transitions: range.len() as u32,
            children: range.len() as u32,
        });
        let m = metas.len() as u32 - 1;
        todo.extend(range.map(|i| (e as u32, m, i as u32, buf[i])));
    }
    children.clear();
    if children.capacity() < todo.len() {
        // A fresh buffer: reserving on the old one would copy its bytes.
        children = Vec::with_capacity(todo.len());
    }
    let mut seen = KeySet::with_capacity(todo.len());
    for &(e, m, slot, action) in &todo {
        let state = &entries[e as usize].state;
        children.push(Child {
            key: 0,
            slot,
            state: state.clone(),
        });
        let last = children.len() - 1;
        let child = &mut children[last];
        model.next_state_in_place(state, action, &mut child.state);
        child.key = key_of(model, &child.state, opts.symmetry);
        if !seen.insert(child.key) {
            // An earlier successor in this run has the same key, so the
            // in-order merge would find it already visited: drop it here,
            // in parallel, and keep only the transition count.
            children.pop();
            metas[m as usize].children -= 1;
        }
    }
    Batch { metas, children }
}

/// A small open-addressing set of fingerprints (never 0), local to one
/// expansion task: catches the successors that coincide within a run of
/// frontier states (interleavings of independent steps meet again two
/// levels down, usually from neighbouring parents).
struct KeySet {
    slots: Vec<u64>,
    mask: usize,
}

impl KeySet {
    fn with_capacity(n: usize) -> KeySet {
        let size = (2 * n).next_power_of_two().max(16);
        KeySet {
            slots: vec![0; size],
            mask: size - 1,
        }
    }

    /// True when `key` was not in the set.
    #[inline]
    fn insert(&mut self, key: u64) -> bool {
        let mut i = key as usize & self.mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = key;
                    return true;
                }
                k if k == key => return false,
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

/// One expansion task: frontier entries and the buffer for their successors.
type Task<'f, S> = (&'f [Child<S>], Vec<Child<S>>);

/// Expand a block of frontier batches, `CHUNK` entries per task, into
/// recycled buffers where there are any.
fn expand_block<M: Model>(
    model: &M,
    block: &[Batch<M::State>],
    opts: &Options<'_>,
    parallel: bool,
    buffers: Vec<Vec<Child<M::State>>>,
) -> Vec<Batch<M::State>> {
    let mut buffers = buffers;
    let work: Vec<Task<'_, M::State>> = block
        .iter()
        .flat_map(|b| b.children.chunks(CHUNK))
        .map(|c| (c, buffers.pop().unwrap_or_default()))
        .collect();
    if parallel {
        work.into_par_iter()
            .map(|(c, out)| expand(model, c, opts, out))
            .collect()
    } else {
        work.into_iter()
            .map(|(c, out)| expand(model, c, opts, out))
            .collect()
    }
}

/// Work items `expand_block` will create for `block`.
fn work_items<S>(block: &[Batch<S>]) -> usize {
    block.iter().map(|b| b.children.len().div_ceil(CHUNK)).sum()
}

/// Consecutive groups of a level's batches, of growing size.
fn blocks<S>(level: &[Batch<S>]) -> Vec<&[Batch<S>]> {
    let mut out = Vec::new();
    let (mut start, mut size, mut target) = (0, 0, FIRST_BLOCK);
    for (i, b) in level.iter().enumerate() {
        size += b.children.len();
        if size >= target {
            out.push(&level[start..=i]);
            (start, size, target) = (i + 1, 0, (target * 2).min(MAX_BLOCK));
        }
    }
    if start < level.len() {
        out.push(&level[start..]);
    }
    out
}

/// Why a merge stopped the search.
enum Stop {
    /// The frontier state with this index is a deadlock.
    Deadlock(u32),
    Bound(BoundHit),
}

/// Accounted bytes of a batch kept as queue storage.
fn batch_bytes<M: Model>(model: &M, batch: &Batch<M::State>) -> u64 {
    // Duplicates still own their memory until the level is dropped.
    let heap: usize = batch
        .children
        .iter()
        .map(|c| model.heap_bytes(&c.state))
        .sum();
    (batch.children.capacity() * std::mem::size_of::<Child<M::State>>()
        + batch.metas.capacity() * std::mem::size_of::<Meta>()
        + heap) as u64
}

struct Search<'m, M: Model> {
    model: &'m M,
    visited: FpTable,
    log: ParentLog,
    limits: Limits,
    transitions: u64,
    peak: u64,
    /// Bytes of the current and the next level's batches.
    queue: u64,
    /// Live entries of the next level.
    next_live: usize,
    /// Emptied successor buffers of expanded levels, reused so the search
    /// does not keep faulting in fresh pages (their bytes stay in `queue`).
    recycle: Vec<Vec<Child<M::State>>>,
}

impl<M: Model> Search<'_, M> {
    fn memory(&self) -> u64 {
        (self.visited.bytes() + self.log.bytes()) as u64 + self.queue
    }

    /// Memory if one more state were logged now (growth holds the old and
    /// the new table at once).
    fn memory_with_one_more(&self) -> u64 {
        let table = self.visited.bytes()
            + if self.visited.needs_growth() {
                self.visited.bytes_after_growth()
            } else {
                0
            };
        (table + self.log.bytes_after_growth()) as u64 + self.queue
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

    /// Log `key` if new: its index, [`DROPPED`] if seen, `Err` at a bound.
    fn admit(&mut self, key: u64, parent: u32, choice: u32, check: bool) -> Result<u32, BoundHit> {
        // Checked as if the state were new; a bound only counts when it is.
        if check
            && let Some(hit) = self
                .limits
                .check(self.visited.len() as u64 + 1, self.memory_with_one_more())
            && !self.visited.contains(key)
        {
            return Err(hit);
        }
        if !self.visited.insert(key) {
            return Ok(DROPPED);
        }
        if self.visited.len().is_multiple_of(1024)
            && let Some(hit) = self.limits.check_time()
        {
            return Err(hit);
        }
        let index = self.log.push(parent, choice);
        self.peak = self.peak.max(self.memory());
        Ok(index)
    }

    /// Take buffers for `n` expansion tasks from the recycled ones.
    fn buffers(&mut self, n: usize) -> Vec<Vec<Child<M::State>>> {
        let keep = self.recycle.len().saturating_sub(n);
        let taken = self.recycle.split_off(keep);
        let size = std::mem::size_of::<Child<M::State>>() as u64;
        self.queue -= taken
            .iter()
            .map(|b| b.capacity() as u64 * size)
            .sum::<u64>();
        taken
    }

    /// Empty an expanded level's batches into the recycled buffers.
    fn retire(&mut self, level: Vec<Batch<M::State>>) {
        let size = std::mem::size_of::<Child<M::State>>() as u64;
        for batch in level {
            self.queue -= batch_bytes(self.model, &batch);
            let mut children = batch.children;
            children.clear();
            self.queue += children.capacity() as u64 * size;
            self.recycle.push(children);
        }
    }

    /// Can `n` more states be stored without any bound being hit, whatever
    /// they are? Then the merge need not check each one.
    fn headroom(&self, n: usize) -> bool {
        if !self.limits.bounds_space() {
            return true;
        }
        // One table growth covers a fifth of its size; more is not bounded here.
        if n * 5 > self.visited.len() {
            return false;
        }
        let table = self.visited.bytes() + self.visited.bytes_after_growth();
        let log = self.log.bytes_after_growth() + n * 5;
        let memory = (table + log) as u64 + self.queue;
        self.limits
            .check((self.visited.len() + n) as u64, memory)
            .is_none()
    }

    /// Merge one expanded batch in order; it becomes queue storage.
    fn merge_batch(&mut self, batch: &mut Batch<M::State>) -> Result<(), Stop> {
        let bytes = batch_bytes(self.model, batch);
        if let Some(hit) = self.limits.check(
            self.visited.len() as u64,
            self.memory_with_one_more() + bytes,
        ) {
            return Err(Stop::Bound(hit));
        }
        self.queue += bytes;
        let check = !self.headroom(batch.children.len());
        for c in batch.children.iter().take(PREFETCH) {
            self.visited.prefetch(c.key);
        }
        let mut next = 0;
        for meta in &batch.metas {
            self.transitions += u64::from(meta.transitions);
            if meta.terminal == Some(Terminal::Deadlock) {
                return Err(Stop::Deadlock(meta.parent));
            }
            for _ in 0..meta.children {
                if let Some(ahead) = batch.children.get(next + PREFETCH) {
                    self.visited.prefetch(ahead.key);
                }
                let child = &mut batch.children[next];
                child.slot = self
                    .admit(child.key, meta.parent, child.slot, check)
                    .map_err(Stop::Bound)?;
                if child.slot != DROPPED {
                    self.next_live += 1;
                }
                next += 1;
            }
        }
        // The metas are not needed any more, nor are duplicates' slots when
        // they are many: compacting in place lets the allocator reuse the
        // tail instead of the search faulting in fresh pages.
        batch.metas = Vec::new();
        let live = batch.live().count();
        if live * 10 < batch.children.len() * 7 {
            batch.children.retain(|c| c.slot != DROPPED);
            batch.children.shrink_to_fit();
        }
        self.queue -= bytes;
        self.queue += batch_bytes(self.model, batch);
        Ok(())
    }

    fn merge(
        &mut self,
        mut batches: Vec<Batch<M::State>>,
        next: &mut Vec<Batch<M::State>>,
    ) -> Result<(), Stop> {
        for mut batch in batches.drain(..) {
            self.merge_batch(&mut batch)?;
            next.push(batch);
        }
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
    let mut pool = None;
    let mut search = Search {
        model,
        visited: FpTable::with_capacity(256),
        log: ParentLog::default(),
        limits: Limits::new(opts.bounds),
        transitions: 0,
        peak: 0,
        queue: 0,
        next_live: 0,
        recycle: Vec::new(),
    };
    let finish = |search: &Search<'_, M>, verdict, depth, trace| Report {
        verdict,
        stats: search.stats(depth),
        elapsed: search.limits.elapsed(),
        trace,
    };

    // Level 0: the initial states, logged as roots.
    let mut roots = Batch {
        metas: Vec::new(),
        children: Vec::new(),
    };
    for (i, s) in model.init_states().into_iter().enumerate() {
        roots.children.push(Child {
            key: key_of(model, &s, opts.symmetry),
            slot: i as u32,
            state: s,
        });
    }
    search.queue += batch_bytes(model, &roots);
    for child in &mut roots.children {
        match search.admit(child.key, ROOT, child.slot, true) {
            Ok(slot) => child.slot = slot,
            Err(hit) => return finish(&search, Verdict::Inconclusive(hit), 0, None),
        }
    }
    let mut live = roots.live().count();
    let mut frontier = vec![roots];

    let mut depth: u32 = 0;
    while live > 0 {
        let mut next: Vec<Batch<M::State>> = Vec::new();
        search.next_live = 0;
        // The pool is only built once a level is wide enough to share.
        if pool.is_none() && opts.threads > 1 && live > SEQUENTIAL_LEVEL {
            pool = rayon::ThreadPoolBuilder::new()
                .num_threads(opts.threads)
                .build()
                .ok();
        }
        let parallel = pool.is_some() && live > SEQUENTIAL_LEVEL;
        let level_blocks = blocks(&frontier);
        // Pipeline: merge block k on one thread while block k+1 is expanded
        // by the others. Merging stays in frontier order, so the result does
        // not depend on the thread count.
        let mut pending: Option<Vec<Batch<M::State>>> = None;
        for k in 0..=level_blocks.len() {
            let to_expand = level_blocks.get(k).copied();
            let buffers = search.buffers(to_expand.map_or(0, work_items));
            let merging = pending.take();
            let search_ref = &mut search;
            let next_ref = &mut next;
            let merge = move || match merging {
                Some(batches) => search_ref.merge(batches, next_ref),
                None => Ok(()),
            };
            let expand =
                |parallel| to_expand.map(|b| expand_block(model, b, opts, parallel, buffers));
            let (merged, expanded) = match (&pool, parallel) {
                (Some(pool), true) => pool.install(|| rayon::join(merge, || expand(true))),
                _ => (merge(), expand(false)),
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
            search.progress(opts, depth, live + search.next_live);
            pending = expanded;
        }
        // The expanded level leaves the queue; its buffers are reused.
        search.retire(std::mem::replace(&mut frontier, next));
        live = search.next_live;
        depth += 1;
    }
    finish(&search, Verdict::Safe, depth, None)
}
