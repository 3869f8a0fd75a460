//! Which steps are independent of every other actor's, for the checker's
//! partial-order reduction (`Sim::is_local`).
//!
//! A step `a` of task `t` may be explored alone from a world `w` when, on
//! every path from `w` that does not take `a`:
//! 1. nothing disables `a` (only `t` moves `t`, and `a` waits for nothing
//!    another actor can take away), and
//! 2. `a` commutes with each step on the path: `a` writes nothing another
//!    actor reads there, and reads nothing another actor writes there.
//!
//! The checker's argument (`crates/check/src/checker/mod.rs`) then keeps
//! every deadlock at its shortest distance. What other actors read of `t`:
//! the locks it holds (lock and trylock choices, the OOM killer's "not
//! inside a lock"), its bio (servers taking it, disks completing it, the
//! OOM killer's "not waiting on a bio"), `serving` of a server (the served
//! task's completion), and `st`/`held` (the OOM killer's victim choice).
//! A policy that asks the world about dependencies (`WorldDeps`: lock
//! owners, program counters at `Lock`, bio states, who serves whom) reads
//! nearly everything, so under such a policy only steps that change none
//! of it count.
//!
//! Steps found independent:
//! - scope save/restore, `prctl`, repeat counters: the task's own bytes
//!   (under a world-reading policy only if no `Lock` op is reached, since
//!   `WorldDeps` looks at a program counter standing at a `Lock`);
//! - taking a dm-bufio reserve when the allocation did not fail;
//! - releasing a lock no reclaim source takes: a step that waited on the
//!   lock cannot have been enabled before, so no step before it on a path
//!   reads the release (reclaim is different: it is chosen while the lock
//!   is held and takes it in its first step when free); the OOM killer
//!   reads lock ownership, so the task must be no possible victim before
//!   and after;
//! - a device server completing a bio (`Op::Complete`): writes the
//!   submitter's bio state, which only the blocked submitter reads;
//! - a disk completing a bio: likewise, and disks serve no one else;
//! - exiting with no pages held; submitting a bio and resuming after a
//!   read bio: own bio fields, with the OOM condition above.
//!
//! Invisible to the livelock search (`Sim::invisible`, the checker's
//! `Model::is_invisible`): a spinning world is one where something can
//! move and no possible step is progress (`Sim::is_progress`). An
//! independent step writes nothing another actor's step reads, so every
//! step enabled both before and after it keeps its events, hence its
//! progress. What it can change is the set of enabled steps: its own
//! task's next step, and a step it wakes (the submitter of the bio it
//! completes; the server or disk that can take the bio it submits). It is
//! invisible when none of those can be progress: a next op that never
//! reports progress (not `Lock`, `Alloc`, `Exit`, a `TakeReserve` after a
//! failed allocation), a bio completion that a program or the flusher
//! resumes from (not a reclaimer's writeback, whose completion frees
//! pages), taking a bio from a queue. Those facts hold in every world
//! reached without the step, since only the task moves itself and the
//! woken submitter waits until the step. Releasing a lock is never
//! invisible (a task waiting at `Lock` becomes able to take it, which is
//! progress); exiting always is, vacuously: it is progress itself
//! (`TaskDone`), so no world where it is enabled is spinning.
//!
//! Not independent: anything that moves pages (free counter, page cache,
//! inodes are read by every allocation's watermark check and reclaim
//! choice), taking a lock, taking a bio from a queue (servers race for it),
//! and writeback (it reads the fs's dirty count).

use super::*;

impl Sim {
    /// Does the compiled policy ever ask the world (`WorldDeps`)? Constant
    /// per `Sim`: a caller asking `is_local` often can pass it to
    /// [`Sim::independent`].
    pub fn policy_reads_world(&self) -> bool {
        self.cache.iter().any(Option::is_none)
    }

    /// Could the OOM killer pick task `t` (in `w`, or once `t` takes its
    /// next step without gaining locks or pages)? False when it holds no
    /// pages, is not a user task, or holds a lock other than `except`.
    fn oom_candidate(&self, w: &World, t: usize, except: Option<u8>) -> bool {
        if !self.sc.memory.oom_killer || self.tasks[t].kind != Kind::User || w.tasks[t].held == 0 {
            return false;
        }
        !w.locks[..w.nl as usize]
            .iter()
            .enumerate()
            .any(|(l, &o)| o == t as u8 && Some(l as u8) != except)
    }

    /// Whether op `pc` is a `Lock` (what `WorldDeps` reads of a program).
    fn at_lock(&self, pc: u16) -> bool {
        matches!(self.ops.get(pc as usize), Some(Op::Lock(_)))
    }

    /// Partial-order hint (see the module docs): `c` commutes with every
    /// step other actors can take before it, and none of them disables it.
    /// `deps`: [`Sim::policy_reads_world`].
    pub fn independent(&self, w: &World, c: Choice, deps: bool) -> bool {
        let t = c.task as usize;
        match c.kind {
            // The bio's submitter is blocked on it; only this disk
            // completes bios on this device.
            ChoiceKind::Complete => return !deps,
            ChoiceKind::Run => {}
            ChoiceKind::Reclaim | ChoiceKind::Serve | ChoiceKind::Flush => return false,
        }
        let task = &w.tasks[t];
        match task.st {
            ST_READY => {}
            // Resuming after a bio: a read's completion touches only the
            // task's own fields; a writeback moves the fs's dirty pages.
            ST_OP_IO if self.tasks[t].kind != Kind::Flusher && !deps => {
                return !matches!(self.ops[task.pc as usize], Op::Writeback { .. })
                    && !self.oom_candidate(w, t, None);
            }
            _ => return false,
        }
        // The OOM killer may end a task that holds pages and no lock:
        // that would disable its step.
        if self.oom_candidate(w, t, None) {
            return false;
        }
        let pc = task.pc;
        let next = pc + 1;
        match self.ops[pc as usize] {
            Op::Save { .. } | Op::Restore { .. } | Op::Prctl | Op::RepInit { .. } => {
                !deps || !self.at_lock(next)
            }
            Op::RepBack { target, .. } => !deps || !(self.at_lock(next) || self.at_lock(target)),
            Op::TakeReserve(..) => task.bits & B_FAILED == 0 && (!deps || !self.at_lock(next)),
            // Reclaim that needs the lock starts by taking it in the same
            // step when it is free: such a release does not commute.
            Op::Unlock(l) => {
                !deps
                    && !self.oom_candidate(w, t, Some(l))
                    && !self.srcs.iter().any(|s| s.locks.contains(&l))
            }
            Op::Complete => !deps,
            Op::Exit => !deps && task.held == 0,
            Op::Submit { .. } => !deps,
            Op::Lock(_) | Op::Alloc(_) | Op::Free(_) | Op::Writeback { .. } | Op::ReleaseBuf(_) => {
                false
            }
        }
    }

    /// Livelock-search hint (see the module docs): `c`, which
    /// [`Sim::independent`] accepts in `w`, enables no step that could be
    /// progress, so it never turns a spinning world into one that is not.
    pub fn invisible(&self, w: &World, c: Choice) -> bool {
        let t = c.task as usize;
        match c.kind {
            ChoiceKind::Complete => self.quiet_wakeup(w, c.arg as usize),
            ChoiceKind::Run if w.tasks[t].st == ST_READY => {
                match self.ops[w.tasks[t].pc as usize] {
                    // Progress wherever it is enabled: no spinning world has it.
                    Op::Exit => true,
                    // A task waiting at `Lock` of it can take it now.
                    Op::Unlock(_) => false,
                    // The submitter resumes; the server can serve again.
                    Op::Complete => {
                        let sub = w.tasks[t].serving;
                        (sub == NONE || self.quiet_wakeup(w, sub as usize)) && self.quiet_next(w, c)
                    }
                    _ => self.quiet_next(w, c),
                }
            }
            ChoiceKind::Run => self.quiet_next(w, c),
            ChoiceKind::Reclaim | ChoiceKind::Serve | ChoiceKind::Flush => false,
        }
    }

    /// Task `j`, waiting for the bio about to complete, resumes with a
    /// step that is never progress: a program's or the flusher's bio
    /// (`op_io_done`, `flush_done` report nothing), not a reclaimer's
    /// writeback (`finish_reclaim` may free pages).
    fn quiet_wakeup(&self, w: &World, j: usize) -> bool {
        w.tasks[j].st == ST_OP_IO
    }

    /// After `c`, its task's next step (if any) is never progress. The
    /// task's own fields decide it, and only the task writes them, so it
    /// holds in every world reached without `c` as well.
    fn quiet_next(&self, w: &World, c: Choice) -> bool {
        let t = c.task as usize;
        let n = self.step(w, c);
        let task = &n.tasks[t];
        match task.st {
            ST_READY => match self.ops[task.pc as usize] {
                Op::Lock(_) | Op::Alloc(_) | Op::Exit => false,
                Op::TakeReserve(..) => task.bits & B_FAILED == 0,
                _ => true,
            },
            // Waiting for its own bio: a program resumes without progress.
            ST_OP_IO => true,
            // A server back to taking bios from its queue.
            ST_IDLE => matches!(self.tasks[t].kind, Kind::Server { .. }),
            ST_DONE | ST_KILLED => true,
            _ => false,
        }
    }
}
