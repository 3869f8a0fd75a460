//! The model's [`Deps`] questions answered from the world (for the
//! dependency-aware and sb-context policies), and the per-(context, source)
//! answer cache for the answers that do not depend on the world.

use super::*;
use reclaimscope_model::reclaim::Deps;
// ---- dependencies (for dependency-aware and sb-context) ----------------------

/// Answers the model's [`Deps`] questions for task `t` from the topology
/// and the world: which locks it holds, who serves the bios a source would
/// need, and what those servers need in turn.
pub(crate) struct WorldDeps<'a> {
    pub sim: &'a Sim,
    pub w: &'a World,
    pub t: usize,
}

impl WorldDeps<'_> {
    fn lock_dep(&self, l: usize, seen: &mut u32) -> bool {
        let o = self.w.locks[l];
        o != NONE && self.task_dep(o as usize, seen)
    }

    /// Task `u` cannot progress until `t` does.
    fn task_dep(&self, u: usize, seen: &mut u32) -> bool {
        if u == self.t {
            return true;
        }
        if *seen & (1 << u) != 0 {
            // Already on this path: `u` waits (through others) for itself,
            // e.g. a daemon thread in reclaim waiting for a bio on its own
            // device while every other thread is busy. It will not serve
            // anything before `t` does, so whatever waits on it cannot
            // progress either.
            return true;
        }
        *seen |= 1 << u;
        let sim = self.sim;
        let task = &self.w.tasks[u];
        match task.st {
            ST_READY => match sim.ops[task.pc as usize] {
                Op::Lock(l) => self.lock_dep(l as usize, seen),
                _ => false,
            },
            ST_REC => {
                let l = sim.srcs[task.rsrc as usize].locks[task.rstep as usize];
                self.lock_dep(l as usize, seen)
            }
            ST_REC_IO | ST_OP_IO => match task.bio_st {
                BIO_QUEUED => self.dev_dep(task.bio_dev as usize, seen),
                BIO_SERVING => (0..self.w.nt as usize)
                    .find(|&s| {
                        self.w.tasks[s].serving as usize == u && self.w.tasks[s].st != ST_IDLE
                    })
                    .is_some_and(|s| self.task_dep(s, seen)),
                _ => false,
            },
            _ => false,
        }
    }

    /// A new bio on served device `d` cannot complete until `t` progresses.
    fn dev_dep(&self, d: usize, seen: &mut u32) -> bool {
        let info = &self.sim.devs[d];
        if info.disk {
            return false;
        }
        let all_servers = info.servers.iter().all(|&s| {
            let s = s as usize;
            s == self.t || self.w.tasks[s].st != ST_IDLE && self.task_dep(s, &mut seen.clone())
        });
        all_servers
            || info
                .serve_locks
                .iter()
                .any(|&l| self.lock_dep(l as usize, &mut seen.clone()))
    }
}

impl Deps for WorldDeps<'_> {
    fn holds_lock_needed_by(&self, src: &Source) -> bool {
        self.sim.srcs[src.id as usize]
            .locks
            .iter()
            .any(|&l| self.w.locks[l as usize] == self.t as u8)
    }

    fn depends_on_ctx(&self, src: &Source) -> bool {
        let info = &self.sim.srcs[src.id as usize];
        let mut seen = 0u32;
        if info
            .locks
            .iter()
            .any(|&l| self.lock_dep(l as usize, &mut seen.clone()))
        {
            return true;
        }
        let needs_io = match info.kind {
            SrcKind::Clean(_) => false,
            SrcKind::Anon => true,
            SrcKind::Sb(f) => {
                self.sim.sb_writes(f as usize) && self.w.fs[f as usize].dirty_inodes > 0
            }
            SrcKind::Bufio(b) => self.w.bufio[b as usize].dirty > 0,
        };
        needs_io
            && info
                .io_dev
                .is_some_and(|d| self.dev_dep(d as usize, &mut seen))
    }
}

impl Sim {
    /// Tasks waiting for lock `l` (held by someone else) in `w`.
    pub(crate) fn waiters(&self, w: &World, l: usize) -> u32 {
        let owner = w.locks[l];
        let mut n = 0;
        for t in 0..w.nt as usize {
            if t as u8 == owner {
                continue;
            }
            let task = &w.tasks[t];
            let waiting = match task.st {
                ST_READY => self.ops[task.pc as usize] == Op::Lock(l as u8),
                ST_REC => {
                    self.srcs[task.rsrc as usize].locks.get(task.rstep as usize) == Some(&(l as u8))
                }
                _ => false,
            };
            n += waiting as u32;
        }
        n
    }
}

/// Records whether the policy consulted the world.
struct Probe(std::cell::Cell<bool>);

impl Deps for Probe {
    fn holds_lock_needed_by(&self, _: &Source) -> bool {
        self.0.set(true);
        false
    }
    fn depends_on_ctx(&self, _: &Source) -> bool {
        self.0.set(true);
        false
    }
}

/// The policy's answer for every (context, source) pair whose answer does
/// not depend on the world; `None` where it asked about dependencies.
pub(super) fn answer_cache(
    policy: Policy,
    ctxs: &[ReclaimCtx],
    srcs: &[SrcInfo],
) -> Vec<Option<Reclaim>> {
    let mut out = Vec::with_capacity(ctxs.len() * srcs.len());
    for ctx in ctxs {
        for src in srcs {
            let probe = Probe(std::cell::Cell::new(false));
            let r = policy.touch(ctx, &src.src, &probe);
            out.push((!probe.0.get()).then_some(r));
        }
    }
    out
}
