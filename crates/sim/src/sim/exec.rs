//! A task's program, one op per step: user tasks and device servers run
//! the ops `compile` emitted (locks, allocations, scopes, bios, repeats).

use super::*;

impl Sim {
    pub(super) fn exec(&self, n: &mut World, w: &World, t: usize, ev: &mut Events) {
        let pc = w.tasks[t].pc as usize;
        let next = (pc + 1) as u16;
        match self.ops[pc] {
            Op::Lock(l) => {
                n.locks[l as usize] = t as u8;
                n.tasks[t].pc = next;
                ev.push(EvKind::LockTaken, t, l as u16, 0);
            }
            Op::Unlock(l) => {
                n.locks[l as usize] = NONE;
                n.tasks[t].pc = next;
            }
            Op::Alloc(site) => self.exec_alloc(n, w, t, site, ev),
            Op::Free(p) => {
                let k = p.min(n.tasks[t].held);
                n.tasks[t].held -= k;
                n.free += k as u16;
                n.tasks[t].pc = next;
            }
            Op::Save { flags, slot } => {
                let task = &mut n.tasks[t];
                task.saved[slot as usize] = task.flags & flags;
                task.flags |= flags;
                task.pc = next;
            }
            Op::Restore { flags, slot } => {
                let task = &mut n.tasks[t];
                task.flags = (task.flags & !flags) | task.saved[slot as usize];
                task.saved[slot as usize] = 0;
                task.pc = next;
            }
            Op::Prctl => {
                let task = &mut n.tasks[t];
                task.flags |= F_NOIO | F_LT;
                task.pc = next;
            }
            Op::RepInit { slot, n: count } => {
                n.tasks[t].rep[slot as usize] = count;
                n.tasks[t].pc = next;
            }
            Op::RepBack { slot, target } => {
                let task = &mut n.tasks[t];
                task.rep[slot as usize] = task.rep[slot as usize].saturating_sub(1);
                task.pc = if task.rep[slot as usize] > 0 {
                    target
                } else {
                    next
                };
            }
            Op::Submit { dev, write, pages } => {
                self.submit(n, t, dev, write, pages);
                n.tasks[t].st = ST_OP_IO;
            }
            Op::Writeback { fs, pages } => {
                let dirty = self.dirty_idle(w, fs as usize).min(pages as u16) as u8;
                if dirty == 0 {
                    n.tasks[t].pc = next;
                } else {
                    self.submit(n, t, self.fs_dev[fs as usize], true, dirty);
                    n.tasks[t].st = ST_OP_IO;
                }
            }
            Op::TakeReserve(b, end) => {
                let task = &mut n.tasks[t];
                task.pc = next;
                if task.bits & B_FAILED != 0 {
                    if n.bufio[b as usize].reserve > 0 {
                        n.bufio[b as usize].reserve -= 1;
                        task.bits = (task.bits | B_RESERVE) & !B_FAILED;
                    } else {
                        task.bits &= !B_FAILED;
                        task.pc = end;
                        ev.push(EvKind::Enomem, t, 0, 0);
                    }
                }
            }
            Op::ReleaseBuf(b) => {
                let task = &mut n.tasks[t];
                if task.bits & B_RESERVE != 0 {
                    task.bits &= !B_RESERVE;
                    n.bufio[b as usize].reserve += 1;
                } else if task.held > 0 {
                    task.held -= 1;
                    n.bufio[b as usize].clean = n.bufio[b as usize].clean.saturating_add(1);
                }
                task.pc = next;
            }
            Op::Complete => {
                let sub = w.tasks[t].serving;
                if sub != NONE {
                    n.tasks[sub as usize].bio_st = BIO_DONE;
                }
                // Back to the loop head to wait for the next request (the
                // program counter of an idle server is never read: taking
                // a bio sets it), so idle threads are equal whichever
                // request they served last.
                let task = &mut n.tasks[t];
                task.serving = NONE;
                task.st = ST_IDLE;
                task.pc = self.tasks[t].start;
                task.bits &= !B_FAILED;
            }
            Op::Exit => {
                let task = &mut n.tasks[t];
                n.free += task.held as u16;
                task.held = 0;
                task.st = ST_DONE;
                task.bits = 0;
                ev.push(EvKind::TaskDone, t, 0, 0);
            }
        }
    }

    /// A bio the program submitted completed.
    pub(super) fn op_io_done(&self, n: &mut World, w: &World, t: usize) {
        let task = w.tasks[t];
        let pages = task.bio_pages as u16;
        if let Op::Writeback { fs, .. } = self.ops[task.pc as usize] {
            let fs = &mut n.fs[fs as usize];
            let k = pages.min(fs.dirty);
            fs.dirty -= k;
            fs.clean += k;
        }
        Self::clear_bio(n, t);
        n.tasks[t].st = ST_READY;
        n.tasks[t].pc += 1;
    }
}
