//! Which steps are enabled in a world: the nondeterminism the checker
//! explores and `run` samples.

use super::*;
use reclaimscope_model::alloc::Retries;

impl Sim {
    pub fn choices(&self, w: &World, out: &mut Vec<Choice>) {
        out.clear();
        for t in 0..w.nt as usize {
            self.task_choices(w, t, out);
        }
        // A disk completes its queued bios in any order (the block layer
        // and the device reorder requests); naming the bio keeps identical
        // submitters interchangeable for the checker's symmetry reduction.
        for (j, task) in w.tasks[..w.nt as usize].iter().enumerate() {
            if task.bio_st == BIO_QUEUED && self.devs[task.bio_dev as usize].disk {
                out.push(Choice::new(ChoiceKind::Complete, task.bio_dev as usize, j));
            }
        }
    }

    fn task_choices(&self, w: &World, t: usize, out: &mut Vec<Choice>) {
        let task = &w.tasks[t];
        let run = Choice::new(ChoiceKind::Run, t, 0);
        match task.st {
            ST_DONE | ST_KILLED => {}
            ST_IDLE => match self.tasks[t].kind {
                Kind::Server { dev, .. } => {
                    for j in 0..w.nt as usize {
                        if w.tasks[j].bio_st == BIO_QUEUED && w.tasks[j].bio_dev == dev {
                            out.push(Choice::new(ChoiceKind::Serve, t, j));
                        }
                    }
                }
                Kind::Flusher => {
                    for f in 0..w.nf as usize {
                        if self.dirty_idle(w, f) > 0 {
                            out.push(Choice::new(ChoiceKind::Flush, t, f));
                        }
                    }
                }
                Kind::Kswapd => {
                    if w.kswapd_awake {
                        let before = out.len();
                        if w.free < self.sc.memory.high {
                            for s in 0..self.srcs.len() {
                                if self.touch_c(w, t, self.kswapd_cid, s).is_some() {
                                    out.push(Choice::new(ChoiceKind::Reclaim, t, s));
                                }
                            }
                        }
                        if out.len() == before {
                            out.push(run);
                        }
                    }
                }
                Kind::BufioWorker(b) => {
                    if w.bufio[b as usize].queued {
                        out.push(run);
                    }
                }
                Kind::User => {}
            },
            ST_READY => match self.ops[task.pc as usize] {
                Op::Lock(l) => {
                    if w.locks[l as usize] == NONE {
                        out.push(run);
                    }
                }
                Op::Alloc(site) => self.alloc_choices(w, t, site, out),
                Op::TakeReserve(b, _) => {
                    let ok = task.bits & B_FAILED == 0
                        || w.bufio[b as usize].reserve > 0
                        || self.sc.bufios[b as usize].reserved == 0;
                    if ok {
                        out.push(run);
                    }
                }
                _ => out.push(run),
            },
            ST_REC => {
                let l = self.srcs[task.rsrc as usize].locks[task.rstep as usize];
                if w.locks[l as usize] == NONE {
                    out.push(run);
                }
            }
            ST_REC_IO | ST_OP_IO if task.bio_st == BIO_DONE => out.push(run),
            _ => {}
        }
    }

    fn alloc_choices(&self, w: &World, t: usize, site: u16, out: &mut Vec<Choice>) {
        let run = Choice::new(ChoiceKind::Run, t, 0);
        let task = &w.tasks[t];
        if task.bits & B_RECLAIMING == 0 {
            // Try the freelist; fail; or enter direct reclaim: one step each.
            out.push(run);
            return;
        }
        let sc = self.site_ctx(w, t, site);
        if self.fits(w, t, site) {
            // Someone freed pages meanwhile: the retry's freelist attempt succeeds.
            out.push(run);
        }
        let before = out.len();
        for s in 0..self.srcs.len() {
            if self.touch_c(w, t, sc.cid, s).is_some() {
                out.push(Choice::new(ChoiceKind::Reclaim, t, s));
            }
        }
        if out.len() > before {
            return;
        }
        // Nothing reclaimable from this context.
        match sc.retries {
            Retries::Forever => {
                if sc.oom && self.oom_victim(w).is_some() {
                    out.push(run);
                }
                // else: loops in the slow path without progress: blocked on memory.
            }
            _ => out.push(run),
        }
    }
}
