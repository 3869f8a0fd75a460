//! The compiled scenario and the step function. The model decides what an
//! allocation may do (`current_gfp_context`, the policy, the slow path) and
//! what reclaim may touch (`Policy::touch`); the simulator only carries out
//! the answers: takes locks, queues bios, moves pages.
//!
//! One file per actor, the way the kernel splits its code: `exec` (a task's
//! program: user tasks and device servers), `alloc` (the page allocator's
//! slow path as a task sees it), `reclaim` (direct reclaim and kswapd taking
//! a source), `server` (loop worker and userspace daemons taking a bio),
//! `disk`, `flusher`, `kswapd`, `bufio` (dm-bufio's shrinker worker), `oom`;
//! `compile` builds a `Sim` from a scenario, `choices` lists what may happen
//! next, `deps` answers the policies' dependency questions.

use crate::scenario::Scenario;
use crate::world::*;
use reclaimscope_model::alloc::Retries;
use reclaimscope_model::policy::ReclaimCtx;
use reclaimscope_model::reclaim::{Reclaim, Source};
use reclaimscope_model::task::TaskFlags;
use reclaimscope_model::{Gfp, Policy};

mod alloc;
mod bufio;
mod choices;
mod compile;
mod deps;
mod disk;
mod events;
mod exec;
mod flusher;
mod kswapd;
mod oom;
mod por;
mod reclaim;
mod server;

pub(crate) use deps::WorldDeps;
pub use events::{EvKind, Event, Events};

/// One nondeterministic decision.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Choice {
    pub kind: ChoiceKind,
    /// The acting task (for `Complete`: the disk's device index).
    pub task: u8,
    /// Reclaim source, served or completed task, or filesystem.
    pub arg: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ChoiceKind {
    /// The task takes its next deterministic step.
    Run,
    /// Reclaim (direct or kswapd) takes source `arg`.
    Reclaim,
    /// A device server takes the bio submitted by task `arg`.
    Serve,
    /// A disk completes a bio.
    Complete,
    /// The flusher writes back dirty pages of filesystem `arg`.
    Flush,
}

impl Choice {
    const fn new(kind: ChoiceKind, task: usize, arg: usize) -> Choice {
        Choice {
            kind,
            task: task as u8,
            arg: arg as u8,
        }
    }
}

/// How a world ended up.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Status {
    Running,
    Completed,
    /// Blocked with a wait-for cycle.
    Deadlock,
    /// Blocked without a cycle: waiting for memory nothing may reclaim.
    Stuck,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Lock(u8),
    Unlock(u8),
    Alloc(u16),
    Free(u8),
    Save {
        flags: u8,
        slot: u8,
    },
    Restore {
        flags: u8,
        slot: u8,
    },
    Prctl,
    RepInit {
        slot: u8,
        n: u8,
    },
    RepBack {
        slot: u8,
        target: u16,
    },
    Submit {
        dev: u8,
        write: bool,
        pages: u8,
    },
    /// `fsync`: write back at most `pages` dirty pages of `fs` (the pages
    /// this task's own writes dirtied) that are not already under writeback.
    Writeback {
        fs: u8,
        pages: u8,
    },
    /// Fall back to a reserved buffer after a failed allocation; without
    /// reserves the read fails with -ENOMEM and jumps to the target.
    TakeReserve(u8, u16),
    ReleaseBuf(u8),
    Complete,
    Exit,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dest {
    Held,
    Dirty(u8),
    Clean(u8),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SiteKind {
    Kmalloc,
    /// `tcp_sendmsg_locked` -> `tcp_stream_alloc_skb(sk->sk_allocation)`.
    Skb,
    PageCache(u8),
    VmallocData,
    VmallocPt,
    Bufio(u8),
}

/// The slow path's answers for one site under one flags combination.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SiteCtx {
    pub ctx: ReclaimCtx,
    /// Index of `ctx` in `Sim::ctxs` (for the per-source answer cache).
    pub cid: u16,
    pub direct: bool,
    pub wakes: bool,
    pub retries: Retries,
    pub oom: bool,
    pub eighths: u8,
}

pub(crate) struct Site {
    pub gfp: Gfp,
    /// 0: as many pages as the served bio carries.
    pub pages: u8,
    pub order: u8,
    pub dest: Dest,
    pub kind: SiteKind,
    /// A NULL return is handled by a fallback (dm-bufio), not -ENOMEM.
    pub fallback: bool,
    /// Indexed by compressed task flags (5 bits) and inherited bio flags (2 bits).
    pub table: Vec<SiteCtx>,
    /// Some entry of `table` gives up after one round (`Retries::Once`):
    /// only then is `B_ROUND` read (`Sim::counts_rounds`).
    pub counts_rounds: bool,
    /// Where the program continues after success / after a NULL return.
    pub on_ok: u16,
    pub on_fail: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    User,
    Server { dev: u8, kernel: bool },
    Flusher,
    Kswapd,
    BufioWorker(u8),
}

pub(crate) struct TaskInfo {
    pub name: String,
    pub kind: Kind,
    pub start: u16,
    pub flags: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SrcKind {
    Clean(u8),
    Anon,
    Sb(u8),
    Bufio(u8),
}

pub(crate) struct SrcInfo {
    pub kind: SrcKind,
    pub src: Source,
    pub locks: Vec<u8>,
    /// The served device its I/O goes to.
    pub io_dev: Option<u8>,
    /// The device it submits to (before dm forwarding), for the story.
    pub submit_dev: Option<u8>,
}

pub(crate) struct DevInfo {
    /// Served device a bio ends up on (dm forwards).
    pub resolved: u8,
    pub disk: bool,
    /// Server task ids.
    pub servers: Vec<u8>,
    pub write_pc: u16,
    pub read_pc: u16,
    /// Locks a write served by this device takes on the backing fs.
    pub serve_locks: Vec<u8>,
}

/// A scenario compiled for one policy: immutable, `Sync`.
pub struct Sim {
    pub(crate) sc: Scenario,
    pub(crate) policy: Policy,
    pub(crate) ops: Vec<Op>,
    pub(crate) sites: Vec<Site>,
    pub(crate) tasks: Vec<TaskInfo>,
    pub(crate) srcs: Vec<SrcInfo>,
    pub(crate) devs: Vec<DevInfo>,
    pub(crate) kswapd: Option<u8>,
    pub(crate) kswapd_ctx: ReclaimCtx,
    pub(crate) kswapd_cid: u16,
    /// Distinct reclaim contexts, and for each, the policy's answer per
    /// source when that answer does not depend on the world (`None`: ask
    /// with `WorldDeps` each time).
    pub(crate) ctxs: Vec<ReclaimCtx>,
    pub(crate) cache: Vec<Option<Reclaim>>,
    pub(crate) fs_dev: Vec<u8>,
    /// Locks whose holder is in a NOFS scope (a jbd2 handle or XFS
    /// transaction from v4.12), one bit each.
    pub(crate) nofs_locks: u32,
    pub(crate) init: World,
}

pub(crate) fn flags_to_task(f: u8) -> TaskFlags {
    let mut t = TaskFlags::empty();
    for (bit, tf) in [
        (F_NOFS, TaskFlags::PF_MEMALLOC_NOFS),
        (F_NOIO, TaskFlags::PF_MEMALLOC_NOIO),
        (F_MEMALLOC, TaskFlags::PF_MEMALLOC),
        (F_LT, TaskFlags::PF_LOCAL_THROTTLE),
        (F_KSWAPD, TaskFlags::PF_KSWAPD),
    ] {
        if f & bit != 0 {
            t = t.union(tf);
        }
    }
    t
}

pub(crate) fn task_to_flags(t: TaskFlags) -> u8 {
    let mut f = 0;
    for (bit, tf) in [
        (F_NOFS, TaskFlags::PF_MEMALLOC_NOFS),
        (F_NOIO, TaskFlags::PF_MEMALLOC_NOIO),
        (F_MEMALLOC, TaskFlags::PF_MEMALLOC),
        (F_LT, TaskFlags::PF_LOCAL_THROTTLE),
        (F_KSWAPD, TaskFlags::PF_KSWAPD),
    ] {
        if t.contains(tf) {
            f |= bit;
        }
    }
    f
}

impl Sim {
    pub fn initial(&self) -> World {
        self.init.clone()
    }

    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Number of tasks (user tasks first, then servers, flusher, kswapd, bufio workers).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    pub fn task_name(&self, t: usize) -> &str {
        &self.tasks[t].name
    }

    /// Whether task `t` is one of the scenario's own tasks.
    pub fn is_user_task(&self, t: usize) -> bool {
        self.tasks[t].kind == Kind::User
    }

    /// Reclaim source names, indexed as in `Choice::arg` of `Reclaim`.
    pub fn source_name(&self, s: usize) -> String {
        match self.srcs[s].kind {
            SrcKind::Clean(f) => format!("clean page cache of {}", self.sc.fss[f as usize].name),
            SrcKind::Anon => "anonymous memory (swap)".into(),
            SrcKind::Sb(f) => format!("superblock shrinker of {}", self.sc.fss[f as usize].name),
            SrcKind::Bufio(b) => {
                format!("dm-bufio shrinker of {}", self.sc.bufios[b as usize].name)
            }
        }
    }

    pub fn source_count(&self) -> usize {
        self.srcs.len()
    }

    // ---- step --------------------------------------------------------------

    pub fn step(&self, w: &World, c: Choice) -> World {
        let mut ev = Events::default();
        self.step_ev(w, c, &mut ev)
    }

    /// `step`, also reporting what happened (for `run`'s metrics).
    pub fn step_ev(&self, w: &World, c: Choice, ev: &mut Events) -> World {
        let mut n = w.clone();
        self.apply(&mut n, w, c, ev);
        n
    }

    /// `step_ev` into a caller-owned world (no copy of the result): `out`
    /// becomes the successor of `w`.
    pub fn step_into(&self, w: &World, c: Choice, ev: &mut Events, out: &mut World) {
        out.clone_from(w);
        self.apply(out, w, c, ev);
    }

    /// `step` written over `n`, which must hold a copy of `w`: a caller that
    /// clones `w` straight into its own storage pays one copy per successor.
    pub fn step_in_place(&self, w: &World, c: Choice, n: &mut World) {
        debug_assert!(n == w, "step_in_place needs a copy of the world");
        let mut ev = Events::default();
        self.apply(n, w, c, &mut ev);
    }

    fn apply(&self, n: &mut World, w: &World, c: Choice, ev: &mut Events) {
        ev.n = 0;
        let t = c.task as usize;
        match c.kind {
            ChoiceKind::Complete => self.complete(n, t, c.arg as usize),
            ChoiceKind::Serve => self.serve(n, w, t, c.arg as usize),
            ChoiceKind::Flush => self.flush(n, t, c.arg as usize),
            ChoiceKind::Reclaim => self.start_reclaim(n, w, t, c.arg as usize, ev),
            ChoiceKind::Run => self.run_task(n, w, t, ev),
        }
    }

    fn run_task(&self, n: &mut World, w: &World, t: usize, ev: &mut Events) {
        match w.tasks[t].st {
            ST_IDLE => match self.tasks[t].kind {
                Kind::Kswapd => self.kswapd_sleep(n),
                Kind::BufioWorker(b) => self.bufio_work(n, t, b, ev),
                _ => {}
            },
            ST_REC => self.advance_reclaim(n, t, ev),
            ST_REC_IO => self.finish_reclaim(n, t, ev),
            ST_OP_IO if self.tasks[t].kind == Kind::Flusher => self.flush_done(n, w, t),
            ST_OP_IO => self.op_io_done(n, w, t),
            ST_READY => self.exec(n, w, t, ev),
            _ => {}
        }
    }

    /// Liveness hint for the checker: does this step count as progress?
    /// Progress is an allocation returning (success, NULL or -ENOMEM: the
    /// caller moves on), a lock taken, reclaim freeing pages, a task ending
    /// or being OOM-killed. Anything else (a reclaim round that frees
    /// nothing, a retry, kswapd going back to sleep, moving a bio along) is
    /// not; a reachable cycle made only of such steps is a livelock. Program
    /// counters only go back through a `repeat` whose counter shrinks, so
    /// program steps cannot close a false cycle.
    pub fn is_progress(&self, w: &World, c: Choice) -> bool {
        let mut events = Events::default();
        self.step_ev(w, c, &mut events);
        events.iter().any(|e| match e.kind {
            EvKind::AllocOk
            | EvKind::AllocFail
            | EvKind::Enomem
            | EvKind::LockTaken
            | EvKind::TaskDone
            | EvKind::OomKill => true,
            EvKind::ReclaimDone => e.b > 0,
            EvKind::None | EvKind::AllocStep | EvKind::ReclaimEnter => false,
        })
    }

    // ---- status ------------------------------------------------------------

    /// Something has not finished: a user task, or an actor mid-work.
    pub(crate) fn unfinished(&self, w: &World) -> bool {
        (0..w.nt as usize).any(|t| {
            let st = w.tasks[t].st;
            match self.tasks[t].kind {
                Kind::User => st != ST_DONE && st != ST_KILLED,
                _ => st != ST_IDLE,
            }
        })
    }

    pub fn status(&self, w: &World) -> Status {
        let mut buf = Vec::new();
        self.choices(w, &mut buf);
        if !buf.is_empty() {
            return Status::Running;
        }
        self.final_status(w)
    }

    /// The status of a world known to have no choices.
    pub fn final_status(&self, w: &World) -> Status {
        if !self.unfinished(w) {
            return Status::Completed;
        }
        if self.wait_for_cycle(w).is_some() {
            Status::Deadlock
        } else {
            Status::Stuck
        }
    }

    /// Partial-order hint: the step commutes with every step other actors
    /// can take before it and none of them disables it (`por.rs`).
    pub fn is_local(&self, w: &World, c: Choice) -> bool {
        self.independent(w, c, self.policy_reads_world())
    }
}
