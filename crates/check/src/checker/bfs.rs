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
//! Successors are stored as (parent, action, fingerprint), not as states:
//! a successor is built in a scratch state to be fingerprinted, and only the
//! ones the merge keeps are built again, once, when their level is expanded
//! (into the batch that then serves as their successors' parents). Worlds of
//! a storage stack are hundreds of bytes and most successors are duplicates,
//! so writing every successor to memory cost more (copies, page faults) than
//! one extra step per new state. A merged batch of successors *is* the next
//! level's frontier, with duplicates marked rather than removed.
//!
//! A deadlock is recognised when its state is expanded (no enabled action and
//! [`Model::terminal`] says so). All shallower levels were expanded first, so
//! the first one found is at the shortest distance from an initial state.

use rayon::prelude::*;

use super::store::{Cache, Store};
use super::{Limits, Options, Progress, key_of};
use crate::model::{Model, Terminal};
use crate::report::{BoundHit, Report, Stats, Trace, Verdict};
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

/// A successor, stored without its state: `parent` (an index into its
/// batch's `worlds`) and `action` rebuild it when it is expanded, so a
/// successor that turns out to be a duplicate never has its world stored.
/// Before the merge, `slot` is the action's position in its parent's action
/// list; after, the state's index in the parent log (or [`DROPPED`] for a
/// state seen before). `action` is `None` for an initial state (the world
/// itself).
struct Child<A> {
    key: u64,
    slot: u32,
    parent: u32,
    action: Option<A>,
}

/// What expanding one frontier state produced.
struct Meta {
    parent: u32,
    terminal: Option<Terminal>,
    transitions: u32,
    children: u32,
}

/// Successors of a run of frontier states, in order, with those states'
/// worlds; after the merge, a batch of the next level.
struct Batch<S, A> {
    metas: Vec<Meta>,
    children: Vec<Child<A>>,
    /// The expanded (live) frontier states, the successors' parents.
    worlds: Store<S>,
}

type BatchOf<M> = Batch<<M as Model>::State, <M as Model>::Action>;

impl<S, A> Batch<S, A> {
    fn live(&self) -> impl Iterator<Item = &Child<A>> {
        self.children.iter().filter(|c| c.slot != DROPPED)
    }
}

/// Expand frontier entries; successors are fingerprinted here (in
/// parallel) and deduplicated by the merge.
///
/// Each live entry's world is rebuilt from its parent (one step) into
/// `worlds`, the batch's storage; each successor is built in a scratch
/// world, fingerprinted and kept only as (parent, action).
fn expand<M: Model>(
    model: &M,
    entries: &[Child<M::Action>],
    parents: &Store<M::State>,
    opts: &Options<'_>,
    mut worlds: Store<M::State>,
) -> BatchOf<M> {
    let mut buf = Vec::new();
    let live = entries.iter().filter(|c| c.slot != DROPPED).count();
    worlds.clear();
    worlds.reserve(live);
    let mut children = Vec::with_capacity(live * 4);
    let mut metas = Vec::with_capacity(live);
    let mut seen = KeySet::with_capacity(live * 8);
    let mut scratch: Option<M::State> = None;
    let mut current: Option<M::State> = None;
    let mut cache = Cache::default();
    for entry in entries.iter().filter(|c| c.slot != DROPPED) {
        let parent = parents.get(model, entry.parent, &mut cache);
        let state = match &mut current {
            Some(state) => {
                state.clone_from(parent);
                state
            }
            None => current.insert(parent.clone()),
        };
        if let Some(action) = entry.action {
            model.next_state_in_place(parent, action, state);
        }
        let state = &*state;
        buf.clear();
        model.actions(state, &mut buf);
        if buf.is_empty() {
            // A final state is nobody's parent: no need to keep its world.
            metas.push(Meta {
                parent: entry.slot,
                terminal: Some(model.terminal(state)),
                transitions: 0,
                children: 0,
            });
            continue;
        }
        let w = worlds.len();
        worlds.push(model, state);
        let local = if opts.por {
            buf.iter().position(|&a| model.is_local(state, a))
        } else {
            None
        };
        let range = match local {
            Some(i) => i..i + 1,
            None => 0..buf.len(),
        };
        let mut kept = 0;
        for i in range.clone() {
            let action = buf[i];
            let next = match &mut scratch {
                Some(next) => {
                    next.clone_from(state);
                    next
                }
                None => scratch.insert(state.clone()),
            };
            model.next_state_in_place(state, action, next);
            let key = key_of(model, next, opts.symmetry);
            // A successor whose key came up earlier in this run would be
            // found visited by the in-order merge: drop it here, in
            // parallel, and keep only the transition count.
            if seen.insert(key) {
                children.push(Child {
                    key,
                    slot: i as u32,
                    parent: w as u32,
                    action: Some(action),
                });
                kept += 1;
            }
        }
        metas.push(Meta {
            parent: entry.slot,
            terminal: None,
            transitions: range.len() as u32,
            children: kept,
        });
    }
    Batch {
        metas,
        children,
        worlds,
    }
}

/// A small open-addressing set of fingerprints (never 0), local to one
/// expansion task: catches the successors that coincide within a run of
/// frontier states (interleavings of independent steps meet again two
/// levels down, usually from neighbouring parents).
struct KeySet {
    slots: Vec<u64>,
    mask: usize,
    len: usize,
}

impl KeySet {
    fn with_capacity(n: usize) -> KeySet {
        let size = (2 * n).next_power_of_two().max(16);
        KeySet {
            slots: vec![0; size],
            mask: size - 1,
            len: 0,
        }
    }

    /// True when `key` was not in the set. Grows at half full.
    #[inline]
    fn insert(&mut self, key: u64) -> bool {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
        self.place(key)
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let old = std::mem::replace(self, KeySet::with_capacity(self.slots.len()));
        for k in old.slots.into_iter().filter(|&k| k != 0) {
            self.place(k);
        }
    }

    #[inline]
    fn place(&mut self, key: u64) -> bool {
        let mut i = key as usize & self.mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = key;
                    self.len += 1;
                    return true;
                }
                k if k == key => return false,
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

/// One expansion task: frontier entries, their parents' worlds, and the
/// buffer for the entries' own worlds.
type Task<'f, S, A> = (&'f [Child<A>], &'f Store<S>, Store<S>);

/// Expand a block of frontier batches, `CHUNK` entries per task, into
/// recycled buffers where there are any.
fn expand_block<M: Model>(
    model: &M,
    block: &[BatchOf<M>],
    opts: &Options<'_>,
    parallel: bool,
    buffers: Vec<Store<M::State>>,
    packs: bool,
) -> Vec<BatchOf<M>> {
    let mut buffers = buffers;
    let work: Vec<Task<'_, M::State, M::Action>> = block
        .iter()
        .flat_map(|b| b.children.chunks(CHUNK).map(|c| (c, &b.worlds)))
        .map(|(c, parents)| {
            let out = buffers.pop().unwrap_or_else(|| Store::new(packs));
            (c, parents, out)
        })
        .collect();
    if parallel {
        work.into_par_iter()
            .map(|(c, parents, out)| expand(model, c, parents, opts, out))
            .collect()
    } else {
        work.into_iter()
            .map(|(c, parents, out)| expand(model, c, parents, opts, out))
            .collect()
    }
}

/// Work items `expand_block` will create for `block`.
fn work_items<S, A>(block: &[Batch<S, A>]) -> usize {
    block.iter().map(|b| b.children.len().div_ceil(CHUNK)).sum()
}

/// Consecutive groups of a level's batches, of growing size.
fn blocks<S, A>(level: &[Batch<S, A>]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut size, mut target) = (0, 0, FIRST_BLOCK);
    for (i, b) in level.iter().enumerate() {
        size += b.children.len();
        if size >= target {
            out.push(start..i + 1);
            (start, size, target) = (i + 1, 0, (target * 2).min(MAX_BLOCK));
        }
    }
    if start < level.len() {
        out.push(start..level.len());
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
fn batch_bytes<M: Model>(model: &M, batch: &BatchOf<M>) -> u64 {
    (batch.children.capacity() * std::mem::size_of::<Child<M::Action>>()
        + batch.metas.capacity() * std::mem::size_of::<Meta>()) as u64
        + batch.worlds.bytes(model)
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
    /// Emptied world buffers of expanded levels, reused so the search does
    /// not keep faulting in fresh pages (their bytes stay in `queue`).
    recycle: Vec<Store<M::State>>,
    /// Whether the model packs queued states ([`Model::pack`]).
    packs: bool,
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
    fn buffers(&mut self, n: usize) -> Vec<Store<M::State>> {
        let keep = self.recycle.len().saturating_sub(n);
        let taken = self.recycle.split_off(keep);
        self.queue -= taken.iter().map(|b| b.bytes(self.model)).sum::<u64>();
        taken
    }

    /// Empty expanded batches: their entries' successors are built, so
    /// neither the entries nor the parents' worlds are needed any more;
    /// the worlds' buffers are recycled.
    fn retire(&mut self, batches: &mut [BatchOf<M>]) {
        for batch in batches {
            self.queue -= batch_bytes(self.model, batch);
            let mut worlds = std::mem::replace(&mut batch.worlds, Store::new(self.packs));
            worlds.clear();
            self.queue += worlds.bytes(self.model);
            self.recycle.push(worlds);
            batch.children = Vec::new();
            batch.metas = Vec::new();
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
    fn merge_batch(&mut self, batch: &mut BatchOf<M>) -> Result<(), Stop> {
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
        // The metas are not needed any more, nor are duplicates' records
        // when they are many.
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
        mut batches: Vec<BatchOf<M>>,
        next: &mut Vec<BatchOf<M>>,
    ) -> Result<(), Stop> {
        for mut batch in batches.drain(..) {
            self.merge_batch(&mut batch)?;
            next.push(batch);
        }
        Ok(())
    }
}

/// Rebuild the path to logged state `index`: turn the logged action
/// positions back into actions, then replay them with their descriptions.
pub(crate) fn replay<M: Model>(model: &M, log: &ParentLog, index: u32) -> Trace<M> {
    let path = log.path_to(index);
    let (_, root) = log.get(path[0]);
    let mut state = model.init_states().swap_remove(root as usize);
    let mut buf = Vec::new();
    let mut actions = Vec::with_capacity(path.len() - 1);
    for &i in &path[1..] {
        let (_, choice) = log.get(i);
        buf.clear();
        model.actions(&state, &mut buf);
        let action = *buf
            .get(choice as usize)
            .expect("Model::actions must be deterministic for trace replay");
        actions.push(action);
        state = model.next_state(&state, action);
    }
    super::replay_actions(model, root as usize, &actions, None)
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
        packs: false,
    };
    let finish = |search: &Search<'_, M>, verdict, depth, trace| Report {
        verdict,
        stats: search.stats(depth),
        elapsed: search.limits.elapsed(),
        trace,
    };

    // Level 0: the initial states, logged as roots.
    let inits = model.init_states();
    search.packs = inits
        .first()
        .is_some_and(|s| model.pack(s, &mut Vec::new()));
    let children = inits
        .iter()
        .enumerate()
        .map(|(i, s)| Child {
            key: key_of(model, s, opts.symmetry),
            slot: i as u32,
            parent: i as u32,
            action: None,
        })
        .collect();
    let mut roots = Batch {
        metas: Vec::new(),
        children,
        worlds: Store::Plain(inits),
    };
    search.queue += batch_bytes(model, &roots);
    for child in &mut roots.children {
        match search.admit(child.key, ROOT, child.slot, true) {
            Ok(slot) => child.slot = slot,
            Err(hit) => return finish(&search, Verdict::Inconclusive(hit), 0, None),
        }
    }
    let mut live = roots.live().count();
    let mut frontier = vec![roots];
    let packs = search.packs;

    let mut depth: u32 = 0;
    while live > 0 {
        let mut next: Vec<BatchOf<M>> = Vec::new();
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
        let mut pending: Option<Vec<BatchOf<M>>> = None;
        for k in 0..=level_blocks.len() {
            let to_expand = level_blocks.get(k).map(|r| &frontier[r.clone()]);
            let buffers = search.buffers(to_expand.map_or(0, work_items));
            let merging = pending.take();
            let search_ref = &mut search;
            let next_ref = &mut next;
            let merge = move || match merging {
                Some(batches) => search_ref.merge(batches, next_ref),
                None => Ok(()),
            };
            let expand = |parallel| {
                to_expand.map(|b| expand_block(model, b, opts, parallel, buffers, packs))
            };
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
            // Expanded: a wide level's parents leave memory block by block
            // instead of all at the level's end.
            if let Some(range) = level_blocks.get(k) {
                search.retire(&mut frontier[range.clone()]);
            }
        }
        frontier = next;
        live = search.next_live;
        depth += 1;
    }
    finish(&search, Verdict::Safe, depth, None)
}

#[cfg(test)]
mod tests {
    use super::KeySet;

    #[test]
    fn key_set_grows_and_reports_each_key_once() {
        let mut set = KeySet::with_capacity(1);
        for k in 1..=1000u64 {
            assert!(set.insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
        }
        for k in 1..=1000u64 {
            assert!(!set.insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
        }
        assert_eq!(set.len, 1000);
    }
}
