//! The OOM killer: chooses the user task holding the most memory that is
//! not inside a lock or waiting on a bio, and frees its memory.

use super::*;
use std::cmp::Reverse;

/// The OOM killer's order on candidates: most pages held, then the
/// earliest program, then by value (see `oom_victim`).
type VictimKey = (u8, Reverse<usize>, Reverse<Task>);

impl Sim {
    pub(super) fn oom_victim(&self, w: &World) -> Option<usize> {
        if !self.sc.memory.oom_killer {
            return None;
        }
        let mut best: Option<(VictimKey, usize)> = None;
        for t in 0..self.tasks.len() {
            let task = &w.tasks[t];
            if self.tasks[t].kind != Kind::User
                || task.st != ST_READY
                || task.held == 0
                || task.bio_st != BIO_NONE
            {
                continue;
            }
            if w.locks[..w.nl as usize].contains(&(t as u8)) {
                continue;
            }
            // Ties go to the lowest slot, except between tasks running one
            // compiled program (interchangeable for the checker's symmetry
            // reduction), which compare by value so renaming them renames
            // the victim: the key is (pages held, first slot of the
            // program, value).
            let first = (0..t)
                .find(|&u| {
                    self.tasks[u].kind == Kind::User && self.tasks[u].start == self.tasks[t].start
                })
                .unwrap_or(t);
            let key = (
                task.held,
                std::cmp::Reverse(first),
                std::cmp::Reverse(*task),
            );
            if best.is_none_or(|(k, _)| key > k) {
                best = Some((key, t));
            }
        }
        best.map(|b| b.1)
    }

    /// Kill `v` and give its pages back.
    pub(super) fn oom_kill(&self, n: &mut World, v: usize, ev: &mut Events) {
        let victim = &mut n.tasks[v];
        n.free += victim.held as u16;
        victim.held = 0;
        victim.st = ST_KILLED;
        ev.push(EvKind::OomKill, v, 0, 0);
    }
}
