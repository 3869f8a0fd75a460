//! Per-task allocation context: the `PF_*` flags of `include/linux/sched.h`,
//! the `memalloc_*_save/restore` scope API and `current_gfp_context()` of
//! `include/linux/sched/mm.h`, and `PR_SET_IO_FLUSHER` (`kernel/sys.c`).

use crate::gfp::Gfp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `current->flags`, restricted to the bits allocation cares about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskFlags(pub u32);

impl TaskFlags {
    /// "Allocating memory to free memory": reserves, and no recursive reclaim.
    pub const PF_MEMALLOC: TaskFlags = TaskFlags(0x800);
    pub const PF_KSWAPD: TaskFlags = TaskFlags(0x20000);
    /// Every allocation inherits GFP_NOFS (v4.12).
    pub const PF_MEMALLOC_NOFS: TaskFlags = TaskFlags(0x40000);
    /// Every allocation inherits GFP_NOIO (v3.9); implies NOFS.
    pub const PF_MEMALLOC_NOIO: TaskFlags = TaskFlags(0x80000);
    /// Throttle only against the bdi this task writes to (was PF_LESS_THROTTLE).
    pub const PF_LOCAL_THROTTLE: TaskFlags = TaskFlags(0x100000);
    /// Every allocation drops `__GFP_MOVABLE` (long-term pins).
    pub const PF_MEMALLOC_PIN: TaskFlags = TaskFlags(0x10000000);
    /// What `PR_SET_IO_FLUSHER` sets.
    pub const PR_IO_FLUSHER: TaskFlags = TaskFlags(0x80000 | 0x100000);

    pub const fn empty() -> TaskFlags {
        TaskFlags(0)
    }
    pub const fn contains(self, f: TaskFlags) -> bool {
        self.0 & f.0 == f.0
    }
    pub const fn union(self, f: TaskFlags) -> TaskFlags {
        TaskFlags(self.0 | f.0)
    }
    pub const fn difference(self, f: TaskFlags) -> TaskFlags {
        TaskFlags(self.0 & !f.0)
    }
    /// The names of the flags set.
    pub fn names(self) -> Vec<&'static str> {
        FLAG_NAMES
            .iter()
            .filter(|(_, f)| self.contains(*f))
            .map(|(n, _)| *n)
            .collect()
    }
}

const FLAG_NAMES: &[(&str, TaskFlags)] = &[
    ("PF_MEMALLOC", TaskFlags::PF_MEMALLOC),
    ("PF_KSWAPD", TaskFlags::PF_KSWAPD),
    ("PF_MEMALLOC_NOFS", TaskFlags::PF_MEMALLOC_NOFS),
    ("PF_MEMALLOC_NOIO", TaskFlags::PF_MEMALLOC_NOIO),
    ("PF_LOCAL_THROTTLE", TaskFlags::PF_LOCAL_THROTTLE),
    ("PF_MEMALLOC_PIN", TaskFlags::PF_MEMALLOC_PIN),
];

impl fmt::Debug for TaskFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskFlags({})", self)
    }
}

impl fmt::Display for TaskFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.names();
        if n.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&n.join(" | "))
        }
    }
}

/// The four allocation scopes of `include/linux/sched/mm.h`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Nofs,
    Noio,
    /// `memalloc_noreclaim_save`: sets PF_MEMALLOC.
    Noreclaim,
    Pin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Nofs, Scope::Noio, Scope::Noreclaim, Scope::Pin];

    /// The task flag the scope controls.
    pub const fn flag(self) -> TaskFlags {
        match self {
            Scope::Nofs => TaskFlags::PF_MEMALLOC_NOFS,
            Scope::Noio => TaskFlags::PF_MEMALLOC_NOIO,
            Scope::Noreclaim => TaskFlags::PF_MEMALLOC,
            Scope::Pin => TaskFlags::PF_MEMALLOC_PIN,
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "nofs" => Some(Scope::Nofs),
            "noio" => Some(Scope::Noio),
            "noreclaim" => Some(Scope::Noreclaim),
            "pin" => Some(Scope::Pin),
            _ => None,
        }
    }

    pub const fn save_fn(self) -> &'static str {
        match self {
            Scope::Nofs => "memalloc_nofs_save",
            Scope::Noio => "memalloc_noio_save",
            Scope::Noreclaim => "memalloc_noreclaim_save",
            Scope::Pin => "memalloc_pin_save",
        }
    }
}

/// `memalloc_flags_save()`: set `flags`, return only the bits that were not
/// already set, so an inner scope's restore is a no-op and the outer one
/// clears the flag.
pub fn memalloc_flags_save(task: &mut TaskFlags, flags: TaskFlags) -> u32 {
    let saved = !task.0 & flags.0;
    task.0 |= flags.0;
    saved
}

/// `memalloc_flags_restore()`: clear exactly what the matching save set.
pub fn memalloc_flags_restore(task: &mut TaskFlags, saved: u32) {
    task.0 &= !saved;
}

/// Enter a scope; pass the result to [`memalloc_restore`].
pub fn memalloc_save(task: &mut TaskFlags, scope: Scope) -> u32 {
    memalloc_flags_save(task, scope.flag())
}

/// Leave a scope entered by [`memalloc_save`].
pub fn memalloc_restore(task: &mut TaskFlags, saved: u32) {
    memalloc_flags_restore(task, saved)
}

pub fn memalloc_nofs_save(task: &mut TaskFlags) -> u32 {
    memalloc_save(task, Scope::Nofs)
}
pub fn memalloc_nofs_restore(task: &mut TaskFlags, saved: u32) {
    memalloc_restore(task, saved)
}
pub fn memalloc_noio_save(task: &mut TaskFlags) -> u32 {
    memalloc_save(task, Scope::Noio)
}
pub fn memalloc_noio_restore(task: &mut TaskFlags, saved: u32) {
    memalloc_restore(task, saved)
}
pub fn memalloc_noreclaim_save(task: &mut TaskFlags) -> u32 {
    memalloc_save(task, Scope::Noreclaim)
}
pub fn memalloc_noreclaim_restore(task: &mut TaskFlags, saved: u32) {
    memalloc_restore(task, saved)
}
pub fn memalloc_pin_save(task: &mut TaskFlags) -> u32 {
    memalloc_save(task, Scope::Pin)
}
pub fn memalloc_pin_restore(task: &mut TaskFlags, saved: u32) {
    memalloc_restore(task, saved)
}

/// `prctl(PR_SET_IO_FLUSHER, on)` (v5.6): NOIO plus local throttling, for
/// userspace daemons in the I/O path (tcmu-runner, FUSE, NBD, multipathd).
pub fn pr_set_io_flusher(task: &mut TaskFlags, on: bool) {
    if on {
        *task = task.union(TaskFlags::PR_IO_FLUSHER);
    } else {
        *task = task.difference(TaskFlags::PR_IO_FLUSHER);
    }
}

/// `PR_GET_IO_FLUSHER`: 1 only when both flags are set.
pub fn pr_get_io_flusher(task: TaskFlags) -> bool {
    task.contains(TaskFlags::PR_IO_FLUSHER)
}

/// Whether a running kernel's `task->flags` (field 9 of `/proc/PID/stat`,
/// `do_task_stat`) can be read with [`TaskFlags`]' values: they are those
/// of include/linux/sched.h from v5.6, when `PR_SET_IO_FLUSHER` arrived, to
/// 6.12, the newest tree read; PF_ bits are renumbered between releases, so
/// outside that range the answer is "unknown". By series, not by version:
/// 6.12.9 has 6.12's sched.h.
pub fn pf_values_known(kernel: &crate::history::KernelVersion) -> bool {
    let series = (kernel.major, kernel.minor);
    ((5, 6)..=(6, 12)).contains(&series)
}

/// `current_gfp_context()`: NOIO clears `__GFP_IO | __GFP_FS`, else NOFS
/// clears `__GFP_FS`; PIN independently clears `__GFP_MOVABLE`. It never
/// adds bits and leaves `__GFP_DIRECT_RECLAIM` alone; PF_MEMALLOC is handled
/// by the allocator, not here.
pub fn current_gfp_context(task: TaskFlags, gfp: Gfp) -> Gfp {
    let mut g = gfp;
    if task.contains(TaskFlags::PF_MEMALLOC_NOIO) {
        g = g.difference(Gfp::IO | Gfp::FS);
    } else if task.contains(TaskFlags::PF_MEMALLOC_NOFS) {
        g = g.difference(Gfp::FS);
    }
    if task.contains(TaskFlags::PF_MEMALLOC_PIN) {
        g = g.difference(Gfp::MOVABLE);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `current_gfp_context` over all 16 combinations of NOFS/NOIO/PIN/MEMALLOC
    /// applied to GFP_HIGHUSER_MOVABLE (which has IO, FS and MOVABLE).
    #[test]
    fn current_gfp_context_every_flag_combination() {
        let base = Gfp::HIGHUSER_MOVABLE;
        for bits in 0..16u32 {
            let mut t = TaskFlags::empty();
            let (nofs, noio, pin, memalloc) =
                (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
            if nofs {
                t = t.union(TaskFlags::PF_MEMALLOC_NOFS);
            }
            if noio {
                t = t.union(TaskFlags::PF_MEMALLOC_NOIO);
            }
            if pin {
                t = t.union(TaskFlags::PF_MEMALLOC_PIN);
            }
            if memalloc {
                t = t.union(TaskFlags::PF_MEMALLOC);
            }
            let g = current_gfp_context(t, base);
            // NOIO wins over NOFS and implies it.
            assert_eq!(g.contains(Gfp::IO), !noio, "{t}");
            assert_eq!(g.contains(Gfp::FS), !noio && !nofs, "{t}");
            assert_eq!(g.contains(Gfp::MOVABLE), !pin, "{t}");
            // Never touches reclaim bits; PF_MEMALLOC is not handled here.
            assert!(g.contains(Gfp::RECLAIM), "{t}");
            // Never adds bits.
            assert!(base.contains(g));
        }
    }

    #[test]
    fn nested_scope_restore_is_noop_inside() {
        let mut t = TaskFlags::empty();
        let outer = memalloc_nofs_save(&mut t);
        let inner = memalloc_nofs_save(&mut t);
        assert_eq!(inner, 0);
        memalloc_nofs_restore(&mut t, inner);
        assert!(t.contains(TaskFlags::PF_MEMALLOC_NOFS));
        memalloc_nofs_restore(&mut t, outer);
        assert_eq!(t, TaskFlags::empty());
    }

    #[test]
    fn noio_inside_nofs_gives_noio_then_back() {
        let mut t = TaskFlags::empty();
        let a = memalloc_nofs_save(&mut t);
        let b = memalloc_noio_save(&mut t);
        assert_eq!(current_gfp_context(t, Gfp::KERNEL), Gfp::NOIO);
        memalloc_noio_restore(&mut t, b);
        assert_eq!(current_gfp_context(t, Gfp::KERNEL), Gfp::NOFS);
        memalloc_nofs_restore(&mut t, a);
        assert_eq!(current_gfp_context(t, Gfp::KERNEL), Gfp::KERNEL);
    }

    #[test]
    fn pf_values_are_known_for_every_point_release_of_the_read_series() {
        use crate::history::KernelVersion;
        let k = |s: &str| KernelVersion::parse(s).unwrap();
        assert!(pf_values_known(&k("6.12.9-amd64")));
        assert!(pf_values_known(&k("5.6")));
        assert!(pf_values_known(&k("6.1.0-18-amd64")));
        assert!(!pf_values_known(&k("5.5.19")));
        assert!(!pf_values_known(&k("6.13")));
    }

    #[test]
    fn io_flusher_sets_noio_and_local_throttle() {
        let mut t = TaskFlags::empty();
        pr_set_io_flusher(&mut t, true);
        assert!(pr_get_io_flusher(t));
        assert_eq!(current_gfp_context(t, Gfp::KERNEL), Gfp::NOIO);
        pr_set_io_flusher(&mut t, false);
        assert_eq!(t, TaskFlags::empty());
    }

    fn scope() -> impl Strategy<Value = Scope> {
        prop::sample::select(Scope::ALL.to_vec())
    }

    proptest! {
        /// Properly nested save/restore pairs, in any order of kinds and from
        /// any starting flags, restore the exact prior state at every level.
        #[test]
        fn nested_save_restore_restores_exact_prior_state(
            start in any::<u32>(),
            scopes in prop::collection::vec(scope(), 0..12),
        ) {
            let mut t = TaskFlags(start);
            let mut stack = Vec::new();
            for s in &scopes {
                let before = t;
                let saved = memalloc_save(&mut t, *s);
                prop_assert!(t.contains(s.flag()));
                stack.push((before, saved));
            }
            while let Some((before, saved)) = stack.pop() {
                memalloc_restore(&mut t, saved);
                prop_assert_eq!(t, before);
            }
            prop_assert_eq!(t, TaskFlags(start));
        }
    }
}
