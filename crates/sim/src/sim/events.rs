//! What the simulator records about a step (for `run`'s metrics and the
//! checker's progress test).

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum EvKind {
    #[default]
    None,
    /// A step of an allocation (its first try, or a step of its slow
    /// path): `a` = site. `run` times an allocation from the first one
    /// after the task's last `AllocOk`/`AllocFail`; the world keeps no
    /// "allocation started" bit, which would split equal situations.
    AllocStep,
    /// `a` = site, `b` = pages.
    AllocOk,
    /// `a` = site, `b` = 1 when the caller sees -ENOMEM (no fallback).
    AllocFail,
    /// A dm-bufio read with no reserve to fall back on returns -ENOMEM.
    Enomem,
    /// A direct-reclaim round begins: `a` = reach (pages), `b` = source.
    ReclaimEnter,
    /// `a` = source, `b` = pages freed.
    ReclaimDone,
    OomKill,
    /// `a` = lock.
    LockTaken,
    TaskDone,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Event {
    pub kind: EvKind,
    pub task: u8,
    pub a: u16,
    pub b: u16,
    /// `ReclaimEnter`: every reclaimable page at that moment.
    pub c: u16,
}

/// What one step did (at most four events).
#[derive(Clone, Copy, Debug, Default)]
pub struct Events {
    pub n: u8,
    pub ev: [Event; 4],
}

impl Events {
    pub(crate) fn push(&mut self, kind: EvKind, task: usize, a: u16, b: u16) {
        if (self.n as usize) < self.ev.len() {
            self.ev[self.n as usize] = Event {
                kind,
                task: task as u8,
                a,
                b,
                c: 0,
            };
            self.n += 1;
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.ev[..self.n as usize].iter()
    }
}
