//! Value checks shared by the scenario file and `--set`: one function decides
//! whether a scenario's numbers are acceptable, so an override cannot slip
//! past a rule the file is held to.

use super::*;
use crate::world::REP_SLOTS;

/// Which value broke a rule, so the caller can point at it (a key in the
/// file, or the `--set` argument).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// `memory.min`/`low`/`high`.
    Watermarks,
    /// A daemon's `queue_depth` (device index).
    QueueDepth(usize),
    /// A daemon's `threads` (device index).
    Threads(usize),
    /// A filesystem's `dirty_inodes` (fs index).
    DirtyInodes(usize),
    /// Pages in the scenario.
    TotalPages,
    /// Tasks plus kernel workers and daemon threads.
    Tasks,
    /// A task's `repeat` (task index).
    Repeat(usize),
}

/// A broken rule: which value and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: Field,
    pub message: String,
}

/// `threads` bounds: every handler thread is a task of the world.
pub const THREADS: std::ops::RangeInclusive<u8> = 1..=8;

impl Scenario {
    /// Every rule on the scenario's values: watermarks ordered, daemon
    /// threads and tasks within the world's arrays, pages within
    /// `MAX_PAGES`, `dirty_inodes <= inodes`, repeats within the program
    /// counters' slots.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |field: Field, message: String| Err(Invalid { field, message });
        let m = &self.memory;
        if !(m.min <= m.low && m.low <= m.high) {
            return bad(
                Field::Watermarks,
                format!(
                    "watermarks must satisfy min <= low <= high (min {}, low {}, high {})",
                    m.min, m.low, m.high
                ),
            );
        }
        for (d, dev) in self.devices.iter().enumerate() {
            if let DevKind::Daemon {
                queue_depth,
                threads,
                ..
            } = dev.kind
            {
                if queue_depth == 0 {
                    return bad(
                        Field::QueueDepth(d),
                        format!("queue_depth of `{}` must be 1..=255, not 0", dev.name),
                    );
                }
                if !THREADS.contains(&threads) {
                    return bad(
                        Field::Threads(d),
                        format!("threads of `{}` must be 1..=8, not {threads}", dev.name),
                    );
                }
            }
        }
        for (f, fs) in self.fss.iter().enumerate() {
            if fs.dirty_inodes > fs.inodes {
                return bad(
                    Field::DirtyInodes(f),
                    format!(
                        "dirty_inodes of `{}` ({}) cannot exceed inodes ({})",
                        fs.name, fs.dirty_inodes, fs.inodes
                    ),
                );
            }
        }
        let total = self.total_pages();
        if total > MAX_PAGES {
            return bad(
                Field::TotalPages,
                format!(
                    "{total} pages in the scenario; at most {MAX_PAGES} (free + caches + anon)"
                ),
            );
        }
        let actors = self.actor_count();
        if self.tasks.len() + actors > MAX_TASKS {
            return bad(
                Field::Tasks,
                format!(
                    "too many tasks: {} plus {actors} kernel workers and daemon threads (at most {MAX_TASKS})",
                    self.tasks.len()
                ),
            );
        }
        for (i, t) in self.tasks.iter().enumerate() {
            if !(1..=100).contains(&t.repeat) {
                return bad(
                    Field::Repeat(i),
                    format!("repeat of `{}` must be 1..=100", t.name),
                );
            }
            let depth = program::repeat_depth(&t.program) + usize::from(t.repeat > 1);
            if depth > REP_SLOTS {
                return bad(
                    Field::Repeat(i),
                    format!(
                        "`{}` would nest `repeat` {depth} deep; at most {REP_SLOTS}",
                        t.name
                    ),
                );
            }
        }
        Ok(())
    }

    /// Kernel workers and daemon threads: one per loop device, `queue_depth`
    /// per daemon, the flusher, kswapd, one dm-bufio worker per client.
    pub(crate) fn actor_count(&self) -> usize {
        let servers: usize = self
            .devices
            .iter()
            .map(|d| match d.kind {
                DevKind::Loop { .. } => 1,
                DevKind::Daemon { threads, .. } => threads as usize,
                _ => 0,
            })
            .sum();
        servers + 1 + usize::from(self.memory.kswapd) + self.bufios.len()
    }
}
