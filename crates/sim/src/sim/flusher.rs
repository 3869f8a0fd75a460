//! The flusher (`wb_workfn`): writes back dirty page cache of one
//! filesystem at a time, a batch per bio.

use super::*;

impl Sim {
    /// Dirty pages of `f` not under writeback. A page leaves the dirty list
    /// when its bio is submitted (`folio_start_writeback`: PG_writeback set,
    /// PG_dirty cleared) and is clean when the bio completes
    /// (`folio_end_writeback`): neither the flusher nor a second `fsync`
    /// submits it again meanwhile, and reclaim cannot free it.
    pub(crate) fn dirty_idle(&self, w: &World, f: usize) -> u16 {
        w.fs[f].dirty.saturating_sub(self.under_writeback(w, f))
    }

    /// Pages of `f` in writeback bios now (the flusher's or an fsync's).
    pub(crate) fn under_writeback(&self, w: &World, f: usize) -> u16 {
        (0..w.nt as usize)
            .filter(|&t| {
                let task = &w.tasks[t];
                task.st == ST_OP_IO
                    && task.bio_st != BIO_NONE
                    && match self.tasks[t].kind {
                        Kind::Flusher => task.rsrc as usize == f,
                        _ => matches!(
                            self.ops.get(task.pc as usize),
                            Some(Op::Writeback { fs, .. }) if *fs as usize == f
                        ),
                    }
            })
            .map(|t| w.tasks[t].bio_pages as u16)
            .sum()
    }

    /// The flusher starts writeback of filesystem `f`.
    pub(super) fn flush(&self, n: &mut World, t: usize, f: usize) {
        let pages = self.dirty_idle(n, f).min(self.sc.memory.batch) as u8;
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
