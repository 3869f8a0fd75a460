//! dm-bufio's shrinker worker (`dm_bufio_wq`, `shrink_work`): the deferred
//! half of the dm-bufio shrinker, run with NOIO, writing dirty buffers.

use super::*;

impl Sim {
    /// The worker takes the deferred scan of client `b`.
    pub(super) fn bufio_work(&self, n: &mut World, t: usize, b: u8, ev: &mut Events) {
        let s = self
            .srcs
            .iter()
            .position(|x| x.kind == SrcKind::Bufio(b))
            .unwrap_or(0);
        let task = &mut n.tasks[t];
        task.rsrc = s as u8;
        task.rstep = 0;
        task.bits |= B_WRITE;
        task.st = ST_REC;
        self.advance_reclaim(n, t, ev);
    }
}
