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
use crate::world::{NONE, Task, World};

// Held locks are a u64 mask in the sort key.
const _: () = assert!(MAX_LOCKS <= 64);

/// A renaming of task slots: `perm[old] == new`.
pub type Perm = [u8; MAX_TASKS];

/// The classes of interchangeable tasks of one compiled scenario.
#[derive(Clone, Debug)]
pub struct Symmetry {
    /// Each class's task slots, ascending; only classes of two or more.
    classes: Vec<Vec<u8>>,
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
        Symmetry { classes }
    }

    /// No two tasks are interchangeable: every world is its own representative.
    pub fn is_trivial(&self) -> bool {
        self.classes.is_empty()
    }

    /// The classes, as task slots (for tests and the story).
    pub fn classes(&self) -> &[Vec<u8>] {
        &self.classes
    }

    /// The renaming that takes `w` to its canonical form, or `None` when
    /// `w` already is canonical.
    pub fn canonical_perm(&self, w: &World) -> Option<Perm> {
        self.canonical_with_perm(w).map(|(_, perm)| perm)
    }

    /// The canonical representative of `w`'s orbit, or `None` when `w` is it.
    pub fn canonical(&self, w: &World) -> Option<World> {
        self.canonical_with_perm(w).map(|(world, _)| world)
    }

    /// The canonical form and the renaming that gives it.
    fn canonical_with_perm(&self, w: &World) -> Option<(World, Perm)> {
        if self.classes.is_empty() {
            return None;
        }
        // Pass 1 sorts by values and held locks (served tasks get their
        // slots); pass 2 also compares `serving`, now in canonical names,
        // and is needed only when a task of some class serves a bio.
        let perm = self.sort_perm(w, false);
        let mut cur = (perm != identity()).then(|| {
            let mut next = w.clone();
            permute_tasks(&mut next, &perm);
            (next, perm)
        });
        let serving = self
            .classes
            .iter()
            .flatten()
            .any(|&t| (t as usize) < w.nt as usize && w.tasks[t as usize].serving != NONE);
        if serving {
            let at = cur.as_ref().map_or(w, |(world, _)| world);
            let second = self.sort_perm(at, true);
            if second != identity() {
                let mut next = at.clone();
                permute_tasks(&mut next, &second);
                let total = compose(&cur.as_ref().map_or(identity(), |c| c.1), &second);
                cur = (total != identity()).then_some((next, total));
            }
        }
        cur
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

    /// Sort every class by its [`sort_key`] (ties keep slot order).
    fn sort_perm(&self, w: &World, with_serving: bool) -> Perm {
        let nt = w.nt as usize;
        let mut held = [0u64; MAX_TASKS];
        for (l, &o) in w.locks[..w.nl as usize].iter().enumerate() {
            if o != NONE {
                held[o as usize] |= 1 << l;
            }
        }
        let mut server_of = [NONE; MAX_TASKS];
        for (s, task) in w.tasks[..nt].iter().enumerate() {
            if task.serving != NONE {
                server_of[task.serving as usize] = s as u8;
            }
        }
        let mut perm = identity();
        let mut keys = [0u64; MAX_TASKS];
        let mut order = [0u8; MAX_TASKS];
        for class in &self.classes {
            let mut len = 0;
            for &t in class.iter().filter(|&&t| (t as usize) < nt) {
                let server = server_of[t as usize];
                let key = digest(&sort_key(
                    &w.tasks[t as usize],
                    held[t as usize],
                    (server != NONE).then(|| &w.tasks[server as usize]),
                    with_serving,
                ));
                // Insertion sort: classes are small; equal keys keep slot order.
                let mut at = len;
                while at > 0 && keys[at - 1] > key {
                    keys[at] = keys[at - 1];
                    order[at] = order[at - 1];
                    at -= 1;
                }
                keys[at] = key;
                order[at] = t;
                len += 1;
            }
            for (&old, &new) in order[..len].iter().zip(class) {
                perm[old as usize] = new;
            }
        }
        perm
    }
}

const TASK_BYTES: usize = std::mem::size_of::<Task>();
/// A task, the locks it holds, whether a server serves its bio, and that
/// server.
const KEY: usize = 2 * TASK_BYTES + 8 + 1;

/// A task's value as bytes in field order (big-endian `pc`), so byte order
/// is a total order on values. With `with_serving` false, `serving` says
/// only whether the task serves someone.
fn task_bytes(task: &Task, with_serving: bool, out: &mut [u8]) {
    let Task {
        pc,
        st,
        flags,
        held,
        bits,
        rsrc,
        rstep,
        serving,
        bio_dev,
        bio_st,
        bio_pages,
        bio_flags,
        saved,
        rep,
    } = *task;
    let serving = match (with_serving, serving) {
        (true, s) | (false, s @ NONE) => s,
        (false, _) => 0,
    };
    let [hi, lo] = pc.to_be_bytes();
    let head = [
        hi, lo, st, flags, held, bits, rsrc, rstep, serving, bio_dev, bio_st, bio_pages, bio_flags,
    ];
    out[..head.len()].copy_from_slice(&head);
    out[head.len()..head.len() + saved.len()].copy_from_slice(&saved);
    out[head.len() + saved.len()..TASK_BYTES].copy_from_slice(&rep);
}

/// A 64-bit digest of a sort key: classes are sorted by digest, which is
/// cheaper than comparing keys. Sorting only ever permutes tasks within a
/// class, so a digest collision cannot merge two worlds of different
/// orbits; it could only leave two members of one orbit with different
/// representatives (less reduction, never a wrong verdict).
fn digest(key: &[u8; KEY]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for chunk in key.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let r = u128::from(h ^ u64::from_le_bytes(w)) * u128::from(M);
        h = (r as u64) ^ ((r >> 64) as u64);
    }
    h
}

/// A task's sort key within its class: its value (with `serving` masked in
/// the first pass), the locks it holds, and the value of the server serving
/// its bio. `serving` itself is compared in the second pass, once the
/// served tasks have their canonical slots.
fn sort_key(task: &Task, held: u64, server: Option<&Task>, with_serving: bool) -> [u8; KEY] {
    let mut key = [0u8; KEY];
    task_bytes(task, with_serving, &mut key[..TASK_BYTES]);
    key[TASK_BYTES..TASK_BYTES + 8].copy_from_slice(&held.to_be_bytes());
    if let Some(s) = server {
        key[TASK_BYTES + 8] = 1;
        task_bytes(s, with_serving, &mut key[TASK_BYTES + 9..]);
    }
    key
}

fn identity() -> Perm {
    std::array::from_fn(|i| i as u8)
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
