//! Symmetry reduction: a canonical form of a world under permutations of
//! interchangeable tasks, for the model checker's visited set.
//!
//! Two tasks are interchangeable when nothing in the compiled scenario tells
//! them apart except their index: user tasks with one compiled program
//! (same program, filesystem, scope and repeat count share a start pc),
//! and the handler threads of one device server (one program per device).
//! Flusher, kswapd and the dm-bufio workers are one of a kind. A bio lives
//! in its submitter's task slot, so permuting tasks permutes their bios.
//!
//! Every reference to a task is renamed with it: lock owners
//! (`World::locks`) and the task a server serves (`Task::serving`). Wait-for
//! edges are derived from those, never stored. [`permute_tasks`] and
//! [`rename_task_refs`] destructure `World` and `Task` without `..`, so a
//! field added to either does not compile until it is given a rule here.
//!
//! Why this is sound: the step function treats a task only through its
//! slot's value, its static `TaskInfo` (equal within a class) and the
//! references above, and lists choices for every task, bio and source; so
//! a permutation `p` within classes is an automorphism of the transition
//! system: `step(p(w), p(c)) == p(step(w, c))`, up to the order of the
//! choice list. The OOM killer's tie-break is the one place that looked at
//! the index; it compares tasks of one class by value instead (`oom.rs`).
//! The checker stores only the fingerprint of [`Symmetry::canonical`], which
//! is always some `p(w)`, so states with one key are in one orbit and reach
//! deadlocks at the same distances; `tests/symmetry.rs` in the checker
//! checks the commutation on random reachable worlds.

use crate::scenario::{MAX_LOCKS, MAX_TASKS};
use crate::sim::{Choice, ChoiceKind, Kind, Sim, TaskInfo};
use crate::subtree::Subtrees;
use crate::world::{NONE, SERVING_BYTE, Task, World};

// Held locks are a 16-bit mask in the sort key (`Sorting::key`), which
// packs it beside a task's last 6 bytes.
const _: () = assert!(MAX_LOCKS <= 16 && std::mem::size_of::<Task>() == 22);

/// A task's sort key within its class (`Sorting::key`).
type Key = [u64; 6];

/// A renaming of task slots: `perm[old] == new`.
pub type Perm = [u8; MAX_TASKS];

/// The classes of interchangeable tasks of one compiled scenario.
#[derive(Clone, Debug)]
pub struct Symmetry {
    /// Each class's task slots, ascending; only classes of two or more.
    classes: Vec<Vec<u8>>,
    /// Interchangeable device subtrees (`subtree.rs`), canonicalised
    /// before the tasks.
    subtrees: Subtrees,
}

/// What a task is, for grouping: equal keys and equal initial values mean
/// interchangeable.
#[derive(PartialEq, Eq)]
enum ClassKey {
    User { start: u16, flags: u8 },
    Server { dev: u8, kernel: bool, flags: u8 },
    Unique(usize),
}

impl Symmetry {
    /// Group `sim`'s tasks into classes of interchangeable ones.
    pub fn new(sim: &Sim) -> Symmetry {
        let init = sim.initial();
        let key = |t: usize| {
            // Exhaustive: a new static per-task field must say here whether
            // it can tell two tasks apart (the name is only for the story).
            let TaskInfo {
                name: _,
                kind,
                start,
                flags,
            } = &sim.tasks[t];
            let (start, flags) = (*start, *flags);
            match *kind {
                Kind::User => ClassKey::User { start, flags },
                Kind::Server { dev, kernel } => ClassKey::Server { dev, kernel, flags },
                Kind::Flusher | Kind::Kswapd | Kind::BufioWorker(_) => ClassKey::Unique(t),
            }
        };
        let mut classes: Vec<Vec<u8>> = Vec::new();
        let mut placed = vec![false; sim.tasks.len()];
        for t in 0..sim.tasks.len() {
            if placed[t] {
                continue;
            }
            let class: Vec<u8> = (t..sim.tasks.len())
                .filter(|&u| !placed[u] && key(u) == key(t) && init.tasks[u] == init.tasks[t])
                .map(|u| u as u8)
                .collect();
            for &u in &class {
                placed[u as usize] = true;
            }
            if class.len() > 1 {
                classes.push(class);
            }
        }
        Symmetry {
            classes,
            subtrees: Subtrees::new(sim),
        }
    }

    /// Nothing is interchangeable: every world is its own representative.
    pub fn is_trivial(&self) -> bool {
        self.classes.is_empty() && self.subtrees.is_trivial()
    }

    /// The interchangeable device subtrees.
    pub fn subtrees(&self) -> &Subtrees {
        &self.subtrees
    }

    /// The classes, as task slots (for tests and the story).
    pub fn classes(&self) -> &[Vec<u8>] {
        &self.classes
    }

    /// The task renaming that sorts `w`'s classes, or `None` when they
    /// are sorted: the whole canonical form when no subtrees are
    /// interchangeable (`subtrees().is_trivial()`), else the second half of
    /// it, applied after [`Subtrees::canonical`].
    pub fn canonical_perm(&self, w: &World) -> Option<Perm> {
        self.perm(w)
    }

    /// The canonical representative of `w`'s orbit, or `None` when `w` is
    /// it: subtrees sorted first (`subtree.rs`), then tasks within their
    /// classes. Each half is a renaming by an automorphism, so the result
    /// is always in `w`'s orbit.
    pub fn canonical(&self, w: &World) -> Option<World> {
        match self.subtrees.canonical(w) {
            None => self.canonical_with_perm(w).map(|(world, _)| world),
            Some(mut b) => {
                if let Some(perm) = self.perm(&b) {
                    permute_tasks(&mut b, &perm);
                }
                Some(b)
            }
        }
    }

    /// The canonical form and the renaming that gives it.
    fn canonical_with_perm(&self, w: &World) -> Option<(World, Perm)> {
        let perm = self.perm(w)?;
        let mut next = w.clone();
        permute_tasks(&mut next, &perm);
        Some((next, perm))
    }

    /// `canonical(w)`'s fingerprint (`w`'s own when `w` is canonical),
    /// without building the canonical world: the checker keys every
    /// successor by it, and cloning and permuting a whole world per
    /// successor cost more than the sort.
    pub fn canonical_fingerprint(&self, w: &World) -> u64 {
        match self.subtrees.canonical(w) {
            None => self.tasks_canonical_fingerprint(w),
            Some(b) => self.tasks_canonical_fingerprint(&b),
        }
    }

    /// The fingerprint of `w` with its task classes sorted.
    fn tasks_canonical_fingerprint(&self, w: &World) -> u64 {
        let Some(perm) = self.perm(w) else {
            return w.fingerprint();
        };
        let mut locks = w.locks;
        for owner in &mut locks[..w.nl as usize] {
            *owner = rename(&perm, *owner);
        }
        let nt = w.nt as usize;
        let mut tasks = [Task::default(); MAX_TASKS];
        for (t, task) in w.tasks[..nt].iter().enumerate() {
            let mut moved = *task;
            rename_task_refs(&mut moved, &perm);
            tasks[perm[t] as usize] = moved;
        }
        w.fingerprint_as(&locks, &tasks[..nt])
    }

    /// The renaming that takes `w` to its canonical form, `None` for the
    /// identity. Pass 1 sorts by values and held locks (served tasks get
    /// their slots); pass 2 also compares `serving`, now in pass 1's names,
    /// and is needed only when two tasks that serve or are served tie in
    /// pass 1 (tasks that tie otherwise are equal and hold nothing, so
    /// their order does not show in the world). Both passes read `w`
    /// through the renaming so far instead of building the renamed world.
    fn perm(&self, w: &World) -> Option<Perm> {
        if self.classes.is_empty() {
            return None;
        }
        let nt = w.nt as usize;
        let mut held = [0u64; MAX_TASKS];
        for (l, &o) in w.locks[..w.nl as usize].iter().enumerate() {
            if o != NONE {
                held[o as usize] |= 1 << l;
            }
        }
        let mut server_of = [NONE; MAX_TASKS];
        let mut serving = false;
        for (s, task) in w.tasks[..nt].iter().enumerate() {
            if task.serving != NONE {
                server_of[task.serving as usize] = s as u8;
            }
        }
        for &t in self.classes.iter().flatten() {
            serving |= (t as usize) < nt && w.tasks[t as usize].serving != NONE;
        }
        let view = Sorting {
            w,
            held: &held,
            server_of: &server_of,
        };
        let id = identity();
        let (first, tied) = self.sort_perm(&view, &id, None);
        // Pass 2 can only reorder tasks whose pass-1 keys tie and that
        // serve or are served (others equal in key are equal in value);
        // whether there are any is read off the keys, so the choice is
        // the same for every member of an orbit.
        let total = if serving && tied {
            let (second, _) = self.sort_perm(&view, &invert(&first), Some(&first));
            compose(&first, &second)
        } else {
            first
        };
        (total != id).then_some(total)
    }

    /// Drop from `choices` (as listed for `w`) those that a renaming fixing
    /// `w` maps from a kept one: their successors are in the same orbit.
    /// Task `t` is redundant when an earlier member `u` of its class has
    /// the same value, and neither holds a lock, serves a bio or has its
    /// bio served: swapping `u` and `t` then leaves `w` unchanged, so any
    /// choice naming `t` is the image of the same choice naming `u`.
    pub fn prune(&self, w: &World, choices: &mut Vec<Choice>) {
        let nt = w.nt as usize;
        let mut pinned = [false; MAX_TASKS];
        for &o in &w.locks[..w.nl as usize] {
            if o != NONE {
                pinned[o as usize] = true;
            }
        }
        for (s, task) in w.tasks[..nt].iter().enumerate() {
            if task.serving != NONE {
                pinned[s] = true;
                pinned[task.serving as usize] = true;
            }
        }
        let mut redundant = [false; MAX_TASKS];
        let mut any = false;
        for class in &self.classes {
            for (i, &t) in class.iter().enumerate() {
                let t = t as usize;
                if t >= nt || pinned[t] {
                    continue;
                }
                let twin = class[..i].iter().any(|&u| {
                    let u = u as usize;
                    !pinned[u] && !redundant[u] && w.tasks[u] == w.tasks[t]
                });
                redundant[t] = twin;
                any |= twin;
            }
        }
        if !any {
            return;
        }
        choices.retain(|c| match c.kind {
            ChoiceKind::Complete => !redundant[c.arg as usize],
            ChoiceKind::Serve => !redundant[c.task as usize] && !redundant[c.arg as usize],
            ChoiceKind::Run | ChoiceKind::Reclaim | ChoiceKind::Flush => {
                !redundant[c.task as usize]
            }
        });
    }

    /// Sort every class by its [`Sorting::key`] (ties keep slot order),
    /// reading `w` renamed so far: slot `s` holds old task `at[s]`, and
    /// `names` (pass 2) renames the tasks `serving` names.
    /// Also says whether two tasks of a class tie while serving or being
    /// served.
    fn sort_perm(&self, view: &Sorting<'_>, at: &Perm, names: Option<&Perm>) -> (Perm, bool) {
        let nt = view.w.nt as usize;
        let mut perm = identity();
        let mut tied = false;
        let mut keys: [Key; MAX_TASKS] = [[0; 6]; MAX_TASKS];
        let mut order = [0u8; MAX_TASKS];
        for class in &self.classes {
            let mut len = 0;
            for &s in class.iter().filter(|&&s| (s as usize) < nt) {
                let key = view.key(at[s as usize] as usize, names);
                // Insertion sort: classes are small; equal keys keep slot order.
                let mut i = len;
                while i > 0 && keys[i - 1] > key {
                    keys[i] = keys[i - 1];
                    order[i] = order[i - 1];
                    i -= 1;
                }
                keys[i] = key;
                order[i] = s;
                len += 1;
            }
            for (&old, &new) in order[..len].iter().zip(class) {
                perm[old as usize] = new;
            }
            tied |= (1..len).any(|i| keys[i - 1] == keys[i] && view.linked(at[order[i] as usize]));
        }
        (perm, tied)
    }
}

/// What the sort reads of one world: each task's held locks (as a mask)
/// and the server serving its bio.
struct Sorting<'w> {
    w: &'w World,
    held: &'w [u64; MAX_TASKS],
    server_of: &'w [u8; MAX_TASKS],
}

impl Sorting<'_> {
    /// Does task `t` serve a bio or have its bio served?
    fn linked(&self, t: u8) -> bool {
        self.w.tasks[t as usize].serving != NONE || self.server_of[t as usize] != NONE
    }

    /// Task `t`'s sort key: its value (with `serving` renamed by `names`,
    /// or in pass 1 only whether it serves someone), the locks it holds,
    /// and the value of the server serving its bio, as words compared in
    /// order (the first, the program counter and state, usually decides).
    #[inline]
    fn key(&self, t: usize, names: Option<&Perm>) -> Key {
        let value = |task: &Task| {
            let mut words = task.words();
            let serving = match (names, task.serving) {
                (Some(names), s) => rename(names, s),
                (None, NONE) => NONE,
                (None, _) => 0,
            };
            let (word, shift) = (SERVING_BYTE / 8, 8 * (SERVING_BYTE % 8));
            words[word] = (words[word] & !(0xff << shift)) | u64::from(serving) << shift;
            words
        };
        // A task is 22 bytes: the third word's top 16 bits are free for
        // the held-locks mask (own) and the has-a-server mark (server's).
        let [a, b, c] = value(&self.w.tasks[t]);
        let [d, e, f] = match self.server_of[t] {
            NONE => [0; 3],
            s => {
                let [d, e, f] = value(&self.w.tasks[s as usize]);
                [d, e, f | 1 << 63]
            }
        };
        [a, b, c | self.held[t] << 48, d, e, f]
    }
}

fn identity() -> Perm {
    std::array::from_fn(|i| i as u8)
}

/// `p` backwards: `invert(p)[p[i]] == i`.
fn invert(p: &Perm) -> Perm {
    let mut out = identity();
    for (i, &n) in p.iter().enumerate() {
        out[n as usize] = i as u8;
    }
    out
}

/// `second` after `first`.
fn compose(first: &Perm, second: &Perm) -> Perm {
    std::array::from_fn(|i| second[first[i] as usize])
}

/// The new name of task `t` (`NONE` stays `NONE`).
#[inline]
fn rename(perm: &Perm, t: u8) -> u8 {
    if t == NONE { NONE } else { perm[t as usize] }
}

/// Rename every task reference inside one task's value.
fn rename_task_refs(task: &mut Task, perm: &Perm) {
    let Task {
        pc: _,
        st: _,
        flags: _,
        held: _,
        bits: _,
        rsrc: _,
        rstep: _,
        serving,
        bio_dev: _,
        bio_st: _,
        bio_pages: _,
        bio_flags: _,
        saved: _,
        rep: _,
    } = task;
    *serving = rename(perm, *serving);
}

/// Move task `t` to slot `perm[t]` and rename every reference to a task.
/// Exhaustive over `World`: a new field is a compile error here until it
/// says whether it names a task.
pub fn permute_tasks(w: &mut World, perm: &Perm) {
    let World {
        free: _,
        anon: _,
        swap_free: _,
        kswapd_awake: _,
        nt,
        nf: _,
        nb: _,
        nl,
        fs: _,
        bufio: _,
        locks,
        tasks,
    } = w;
    for owner in &mut locks[..*nl as usize] {
        *owner = rename(perm, *owner);
    }
    let old = *tasks;
    for (t, task) in old[..*nt as usize].iter().enumerate() {
        let mut moved = *task;
        rename_task_refs(&mut moved, perm);
        tasks[perm[t] as usize] = moved;
    }
}

/// The same decision made by the renamed tasks.
pub fn permute_choice(c: Choice, perm: &Perm) -> Choice {
    let Choice { kind, task, arg } = c;
    match kind {
        // `task` is a device; `arg` the task whose bio completes.
        ChoiceKind::Complete => Choice {
            kind,
            task,
            arg: perm[arg as usize],
        },
        // `arg` is the task whose bio is taken.
        ChoiceKind::Serve => Choice {
            kind,
            task: perm[task as usize],
            arg: perm[arg as usize],
        },
        // `arg` is a reclaim source or a filesystem.
        ChoiceKind::Run | ChoiceKind::Reclaim | ChoiceKind::Flush => Choice {
            kind,
            task: perm[task as usize],
            arg,
        },
    }
}
