//! The flusher (`wb_workfn`): writes back dirty page cache of one
//! filesystem at a time, a batch per bio.

use super::*;

impl Sim {
    /// The flusher starts writeback of filesystem `f`.
    pub(super) fn flush(&self, n: &mut World, t: usize, f: usize) {
        let pages = n.fs[f].dirty.min(self.sc.memory.batch) as u8;
        let dev = self.fs_dev[f];
        n.tasks[t].rsrc = f as u8;
        self.submit(n, t, dev, true, pages);
        n.tasks[t].st = ST_OP_IO;
    }

    /// The flusher's bio completed: its pages are clean.
    pub(super) fn flush_done(&self, n: &mut World, w: &World, t: usize) {
        let task = w.tasks[t];
        let pages = task.bio_pages as u16;
        let fs = &mut n.fs[task.rsrc as usize];
        let k = pages.min(fs.dirty);
        fs.dirty -= k;
        fs.clean += k;
        Self::clear_bio(n, t);
        n.tasks[t].st = ST_IDLE;
        n.tasks[t].rsrc = 0;
    }
}
