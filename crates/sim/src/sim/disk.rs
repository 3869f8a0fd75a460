//! A disk: completes the oldest queued bio on its device; and the bio
//! fields every submitter fills in.

use super::*;

impl Sim {
    /// The disk under device `d` completes a bio queued on it.
    pub(super) fn complete(&self, n: &mut World, d: usize) {
        if let Some(j) = self.queued_on(n, d) {
            n.tasks[j].bio_st = BIO_DONE;
        }
    }

    pub(super) fn queued_on(&self, w: &World, d: usize) -> Option<usize> {
        (0..w.nt as usize)
            .find(|&j| w.tasks[j].bio_st == BIO_QUEUED && w.tasks[j].bio_dev as usize == d)
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
