//! Reclaim taking one source (direct reclaim of an allocating task, or
//! kswapd): the policy's answer, the source's locks, its I/O, the pages
//! freed.

use super::*;
use reclaimscope_model::history::InodeReclaim;
use reclaimscope_model::reclaim::LockMode;

impl Sim {
    /// The superblock shrinker of `f` writes dirty inodes and waits
    /// (`InodeReclaim::WriteAndWait`: XFS before v5.9).
    pub(crate) fn sb_writes(&self, f: usize) -> bool {
        self.sc.fss[f].inode_reclaim == InodeReclaim::WriteAndWait
    }

    /// Inodes the superblock shrinker of `f` can free now: all of them if
    /// it writes dirty ones back first, else the clean ones.
    pub(crate) fn sb_freeable(&self, w: &World, f: usize) -> u16 {
        let fs = &w.fs[f];
        if self.sb_writes(f) {
            fs.inodes
        } else {
            fs.inodes - fs.dirty_inodes
        }
    }

    /// `touch` for an interned context: the cached answer when the policy's
    /// answer does not depend on the world.
    pub(crate) fn touch_c(&self, w: &World, t: usize, cid: u16, s: usize) -> Option<Reclaim> {
        match self.cache[cid as usize * self.srcs.len() + s] {
            Some(r) => self.useful(w, s, r).then_some(r),
            None => self.touch(w, t, &self.ctxs[cid as usize], s),
        }
    }

    /// What reclaim from `ctx` does with source `s` in `w`, if it can free anything.
    pub(crate) fn touch(&self, w: &World, t: usize, ctx: &ReclaimCtx, s: usize) -> Option<Reclaim> {
        let info = &self.srcs[s];
        let deps = WorldDeps { sim: self, w, t };
        let r = self.policy.touch(ctx, &info.src, &deps);
        self.useful(w, s, r).then_some(r)
    }

    fn useful(&self, w: &World, s: usize, r: Reclaim) -> bool {
        match (self.srcs[s].kind, r) {
            (_, Reclaim::Skip { .. }) => false,
            (SrcKind::Clean(f), _) => w.fs[f as usize].clean > 0,
            (SrcKind::Anon, Reclaim::SwapOut) => {
                w.anon > 0 && w.swap_free > 0 && self.srcs[s].io_dev.is_some()
            }
            (SrcKind::Sb(f), Reclaim::PruneSuperBlock) => self.sb_freeable(w, f as usize) > 0,
            (SrcKind::Bufio(b), Reclaim::Bufio { lock, write_dirty }) => {
                let bs = &w.bufio[b as usize];
                let lock_ok =
                    lock == LockMode::Blocking || w.locks[self.srcs[s].locks[0] as usize] == NONE;
                lock_ok && (bs.clean > 0 || write_dirty && bs.dirty > 0)
            }
            (SrcKind::Bufio(b), Reclaim::Deferred) => {
                let bs = &w.bufio[b as usize];
                !bs.queued && bs.clean as u16 + bs.dirty as u16 > 0
            }
            _ => false,
        }
    }

    /// Pages source `s` could give back right now (for reach).
    pub(crate) fn freeable(&self, w: &World, s: usize, r: Reclaim) -> u16 {
        match self.srcs[s].kind {
            SrcKind::Clean(f) => w.fs[f as usize].clean,
            SrcKind::Anon => w.anon.min(w.swap_free),
            SrcKind::Sb(f) => self.sb_freeable(w, f as usize),
            SrcKind::Bufio(b) => {
                let bs = &w.bufio[b as usize];
                match r {
                    Reclaim::Bufio {
                        write_dirty: true, ..
                    } => bs.clean as u16 + bs.dirty as u16,
                    Reclaim::Bufio { .. } => bs.clean as u16,
                    _ => 0,
                }
            }
        }
    }
    pub(super) fn start_reclaim(
        &self,
        n: &mut World,
        w: &World,
        t: usize,
        s: usize,
        ev: &mut Events,
    ) {
        let ctx = match self.reclaim_ctx(w, t) {
            Some(c) => c,
            None => return,
        };
        let Some(r) = self.touch(w, t, &ctx, s) else {
            return;
        };
        if self.tasks[t].kind != Kind::Kswapd {
            let reach = self.reach(w, t, &ctx);
            ev.push(EvKind::ReclaimEnter, t, reach, s as u16);
            ev.ev[ev.n as usize - 1].c = self.reclaimable(w);
            n.tasks[t].bits &= !B_RECLAIMING;
        }
        let task = &mut n.tasks[t];
        task.rsrc = s as u8;
        task.rstep = 0;
        task.bits &= !B_WRITE;
        match r {
            Reclaim::Deferred => {
                if let SrcKind::Bufio(b) = self.srcs[s].kind {
                    n.bufio[b as usize].queued = true;
                }
                if self.counts_rounds(w, t) {
                    n.tasks[t].bits |= B_ROUND;
                }
                n.tasks[t].rsrc = 0;
                ev.push(EvKind::ReclaimDone, t, s as u16, 0);
                return;
            }
            Reclaim::Bufio { lock, write_dirty } => {
                if write_dirty {
                    task.bits |= B_WRITE;
                }
                if lock == LockMode::Trylock {
                    let l = self.srcs[s].locks[0] as usize;
                    n.locks[l] = t as u8;
                    n.tasks[t].rstep = 1;
                }
            }
            _ => {}
        }
        n.tasks[t].st = ST_REC;
        self.advance_reclaim(n, t, ev);
    }

    /// Take the source's locks while free, then start its I/O or finish.
    pub(super) fn advance_reclaim(&self, n: &mut World, t: usize, ev: &mut Events) {
        let s = n.tasks[t].rsrc as usize;
        let info = &self.srcs[s];
        while (n.tasks[t].rstep as usize) < info.locks.len() {
            let l = info.locks[n.tasks[t].rstep as usize] as usize;
            if n.locks[l] != NONE {
                return;
            }
            n.locks[l] = t as u8;
            n.tasks[t].rstep += 1;
        }
        let batch = self.sc.memory.batch;
        let io = match info.kind {
            SrcKind::Clean(_) => None,
            SrcKind::Anon => Some(n.anon.min(n.swap_free).min(batch)),
            SrcKind::Sb(f) if self.sb_writes(f as usize) => {
                Some(n.fs[f as usize].dirty_inodes.min(batch)).filter(|&p| p > 0)
            }
            SrcKind::Sb(_) => None,
            SrcKind::Bufio(b) => {
                let d = n.bufio[b as usize].dirty as u16;
                (n.tasks[t].bits & B_WRITE != 0 && d > 0).then_some(d)
            }
        };
        match (io, info.io_dev) {
            (Some(pages), Some(dev)) => {
                self.submit(n, t, dev, true, pages.min(255) as u8);
                n.tasks[t].st = ST_REC_IO;
            }
            _ => self.finish_reclaim(n, t, ev),
        }
    }

    pub(super) fn finish_reclaim(&self, n: &mut World, t: usize, ev: &mut Events) {
        let s = n.tasks[t].rsrc as usize;
        let info = &self.srcs[s];
        let batch = self.sc.memory.batch;
        let written = if n.tasks[t].bio_st == BIO_DONE {
            n.tasks[t].bio_pages as u16
        } else {
            0
        };
        let freed = match info.kind {
            SrcKind::Clean(f) => {
                let fs = &mut n.fs[f as usize];
                let k = fs.clean.min(batch);
                fs.clean -= k;
                k
            }
            SrcKind::Anon => {
                let k = written.min(n.anon).min(n.swap_free);
                n.anon -= k;
                n.swap_free -= k;
                k
            }
            SrcKind::Sb(f) if self.sb_writes(f as usize) => {
                let fs = &mut n.fs[f as usize];
                fs.dirty_inodes = fs.dirty_inodes.saturating_sub(written);
                let k = fs.inodes.min(batch);
                fs.inodes -= k;
                fs.dirty_inodes = fs.dirty_inodes.min(fs.inodes);
                k
            }
            // Dirty inodes are skipped: only clean ones are freed.
            SrcKind::Sb(f) => {
                let fs = &mut n.fs[f as usize];
                let k = (fs.inodes - fs.dirty_inodes).min(batch);
                fs.inodes -= k;
                k
            }
            SrcKind::Bufio(b) => {
                let bs = &mut n.bufio[b as usize];
                let wr = (written as u8).min(bs.dirty);
                bs.dirty -= wr;
                bs.clean = bs.clean.saturating_add(wr);
                let k = (bs.clean as u16).min(batch) as u8;
                bs.clean -= k;
                k as u16
            }
        };
        n.free += freed;
        for &l in &info.locks {
            if n.locks[l as usize] == t as u8 {
                n.locks[l as usize] = NONE;
            }
        }
        Self::clear_bio(n, t);
        ev.push(EvKind::ReclaimDone, t, s as u16, freed);
        let round = self.counts_rounds(n, t);
        let task = &mut n.tasks[t];
        task.rstep = 0;
        // No stale fields: equal situations must be equal worlds.
        task.rsrc = 0;
        task.bits &= !B_WRITE;
        match self.tasks[t].kind {
            Kind::Kswapd => task.st = ST_IDLE,
            Kind::BufioWorker(b) => {
                task.st = ST_IDLE;
                n.bufio[b as usize].queued = false;
            }
            _ => {
                task.st = ST_READY;
                if round {
                    task.bits |= B_ROUND;
                }
            }
        }
    }

    pub(crate) fn reclaimable(&self, w: &World) -> u16 {
        let full = Reclaim::Bufio {
            lock: LockMode::Blocking,
            write_dirty: true,
        };
        (0..self.srcs.len())
            .map(|s| self.freeable(w, s, full))
            .sum()
    }

    /// Pages the sources `t` may touch could give back (Dave Chinner's "Re: [PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-27)'s "reach").
    pub(crate) fn reach(&self, w: &World, t: usize, ctx: &ReclaimCtx) -> u16 {
        let cid = self.ctxs.iter().position(|c| c == ctx).unwrap_or(0) as u16;
        (0..self.srcs.len())
            .filter_map(|s| self.touch_c(w, t, cid, s).map(|r| self.freeable(w, s, r)))
            .sum()
    }
}
