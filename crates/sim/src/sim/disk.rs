//! A disk: completes any bio queued on its device; and the bio fields
//! every submitter fills in.

use super::*;

impl Sim {
    /// The disk under device `d` completes the bio task `j` queued on it.
    pub(super) fn complete(&self, n: &mut World, d: usize, j: usize) {
        let task = &mut n.tasks[j];
        if task.bio_st == BIO_QUEUED && task.bio_dev as usize == d {
            task.bio_st = BIO_DONE;
        }
    }

    pub(super) fn submit(&self, n: &mut World, t: usize, dev: u8, write: bool, pages: u8) {
        let task = &mut n.tasks[t];
        task.bio_dev = self.devs[dev as usize].resolved;
        task.bio_st = BIO_QUEUED;
        task.bio_pages = pages.max(1);
        task.bio_flags = (task.flags & (F_NOFS | F_NOIO)) | if write { BIO_WRITE } else { 0 };
    }

    pub(super) fn clear_bio(n: &mut World, t: usize) {
        let task = &mut n.tasks[t];
        task.bio_dev = NONE;
        task.bio_st = BIO_NONE;
        task.bio_pages = 0;
        task.bio_flags = 0;
    }
}
