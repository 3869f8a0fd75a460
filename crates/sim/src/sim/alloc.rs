//! The page allocator as one task sees it: the site's context under the
//! task's flags, watermarks, the freelist attempt, entering direct reclaim,
//! the OOM killer or a NULL return.

use super::*;
use reclaimscope_model::alloc::Retries;

impl Sim {
    pub(crate) fn site_ctx(&self, w: &World, t: usize, site: u16) -> &SiteCtx {
        let task = &w.tasks[t];
        let mut bio = 0u8;
        if let (Kind::Server { kernel, .. }, true) = (self.tasks[t].kind, task.serving != NONE) {
            let sub = flags_to_task(w.tasks[task.serving as usize].bio_flags & (F_NOFS | F_NOIO));
            let inh = task_to_flags(self.policy.bio_inherited(sub, kernel));
            bio = inh & (F_NOFS | F_NOIO);
        }
        let mut flags = task.flags;
        // Holding a transaction that is a NOFS scope (start_this_handle,
        // xfs_trans_set_context call memalloc_nofs_save).
        let mut held = self.nofs_locks;
        while held != 0 {
            let l = held.trailing_zeros() as usize;
            held &= held - 1;
            if w.locks[l] == t as u8 {
                flags |= F_NOFS;
                break;
            }
        }
        let idx = (flags & 31) | (bio & F_NOFS) << 5 | ((bio & F_NOIO) >> 1) << 6;
        &self.sites[site as usize].table[idx as usize]
    }

    pub(crate) fn site_pages(&self, w: &World, t: usize, site: u16) -> u16 {
        let s = &self.sites[site as usize];
        if s.pages == 0 {
            let sub = w.tasks[t].serving;
            if sub == NONE {
                1
            } else {
                w.tasks[sub as usize].bio_pages.max(1) as u16
            }
        } else {
            s.pages as u16
        }
    }

    fn mark(&self, eighths: u8) -> u16 {
        let min = self.sc.memory.min;
        min - (min as u32 * eighths as u32 / 8) as u16
    }

    pub(crate) fn fits(&self, w: &World, t: usize, site: u16) -> bool {
        let sc = self.site_ctx(w, t, site);
        w.free as u32 >= self.site_pages(w, t, site) as u32 + self.mark(sc.eighths) as u32
    }

    /// The reclaim context of task `t` right now (its current alloc site, or kswapd's).
    pub(crate) fn reclaim_ctx(&self, w: &World, t: usize) -> Option<ReclaimCtx> {
        if self.tasks[t].kind == Kind::Kswapd {
            return Some(self.kswapd_ctx);
        }
        match self.ops.get(w.tasks[t].pc as usize) {
            Some(Op::Alloc(site)) => Some(self.site_ctx(w, t, *site).ctx),
            _ => None,
        }
    }

    /// Can task `t`'s allocation read `B_ROUND` ("a reclaim round is
    /// done")? Only a site that gives up after one round
    /// (`Retries::Once`, `__GFP_NORETRY`'s `should_alloc_retry`) asks;
    /// elsewhere the bit would be written and never read, and split one
    /// situation into two worlds for the checker.
    pub(super) fn counts_rounds(&self, w: &World, t: usize) -> bool {
        match self.ops.get(w.tasks[t].pc as usize) {
            Some(Op::Alloc(site)) => self.sites[*site as usize].counts_rounds,
            _ => true,
        }
    }

    pub(super) fn exec_alloc(
        &self,
        n: &mut World,
        w: &World,
        t: usize,
        site: u16,
        ev: &mut Events,
    ) {
        let sc = *self.site_ctx(w, t, site);
        let info = &self.sites[site as usize];
        let pages = self.site_pages(w, t, site);
        let bits = w.tasks[t].bits;
        ev.push(EvKind::AllocStep, t, site, 0);
        if bits & B_RECLAIMING != 0 && !self.fits(w, t, site) {
            // In reclaim with nothing to reclaim: OOM-kill, or give up.
            if sc.retries == Retries::Forever {
                if let Some(v) = self.oom_victim(w) {
                    self.oom_kill(n, v, ev);
                    n.tasks[t].bits &= !B_RECLAIMING;
                }
                return;
            }
            self.alloc_fail(n, t, site, ev);
            return;
        }
        if self.fits(w, t, site) {
            n.free -= pages;
            if n.free < self.sc.memory.low && sc.wakes && self.kswapd.is_some() {
                n.kswapd_awake = true;
            }
            match info.dest {
                Dest::Held => {
                    n.tasks[t].held = n.tasks[t].held.saturating_add(pages.min(255) as u8)
                }
                Dest::Dirty(f) => n.fs[f as usize].dirty += pages,
                Dest::Clean(f) => n.fs[f as usize].clean += pages,
            }
            let task = &mut n.tasks[t];
            task.bits &= !(B_ROUND | B_FAILED | B_RECLAIMING);
            task.pc = info.on_ok;
            ev.push(EvKind::AllocOk, t, site, pages);
            return;
        }
        if sc.wakes && self.kswapd.is_some() {
            n.kswapd_awake = true;
        }
        if !sc.direct || bits & B_ROUND != 0 && sc.retries == Retries::Once {
            self.alloc_fail(n, t, site, ev);
            return;
        }
        // __alloc_pages_direct_reclaim: the next step picks what to reclaim.
        n.tasks[t].bits |= B_RECLAIMING;
    }

    /// The allocation returns NULL.
    fn alloc_fail(&self, n: &mut World, t: usize, site: u16, ev: &mut Events) {
        let info = &self.sites[site as usize];
        let task = &mut n.tasks[t];
        task.bits = (task.bits | B_FAILED) & !(B_ROUND | B_RECLAIMING);
        task.pc = info.on_fail;
        ev.push(EvKind::AllocFail, t, site, !info.fallback as u16);
    }
}
