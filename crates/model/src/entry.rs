//! Entry points: the function-pointer slots the kernel core calls, and the
//! memalloc scope the calling task is in when it does. A function
//! registered in one of these slots (`.write_iter = xfs_file_write_iter`,
//! `INIT_WORK(&w, f)`) has no caller in its own subsystem: its calling
//! context is decided here, once, from the core's source, so the scanner's
//! caller walk ends at it instead of at "reached through a function
//! pointer". Subsystem-internal ops tables (`xfs_defer_op_type`,
//! `xfs_item_ops`) are not listed: their callers are in the tree and are
//! followed through the `->field(` call sites.
//!
//! Facts are read from 6.1 (and checked against 6.12) sources:
//! - `fs/read_write.c` `vfs_read()`/`vfs_write()` call `->read_iter`/
//!   `->write_iter` (through `call_read_iter()`/`call_write_iter()` in
//!   `include/linux/fs.h` in 6.1) with no `memalloc_*_save()`;
//!   `fs/sync.c` `vfs_fsync_range()` calls `->fsync`, `fs/open.c`
//!   `vfs_fallocate()` calls `->fallocate`, `fs/namei.c` the
//!   `inode_operations`, `fs/fs-writeback.c` `wb_workfn()` and
//!   `do_writepages()` the `->writepages`, all without a scope.
//! - `drivers/block/loop.c` `loop_process_work()` sets
//!   `current->flags |= PF_LOCAL_THROTTLE | PF_MEMALLOC_NOIO` (6.1 and
//!   6.12) and then, for the backing file, `lo_rw_aio()` calls
//!   `->read_iter`/`->write_iter`, `lo_req_flush()` `vfs_fsync()` and
//!   `lo_fallocate()` `->fallocate`: the same methods also run inside a
//!   NOIO scope, and so does what they reach (`->read_folio`,
//!   `->readahead`, `->write_begin`/`->write_end` through
//!   `filemap_read()`/`generic_perform_write()`, `->writepages` through
//!   `file_write_and_wait_range()` in `->fsync`, `->dirty_inode` through
//!   `file_update_time()`). A site below them is *mixed*, not uncovered.
//! - `fs/super.c` `super_cache_scan()` returns `SHRINK_STOP` unless
//!   `sc->gfp_mask & __GFP_FS`, and `mm/vmscan.c` builds that mask with
//!   `current_gfp_context()`, which clears `__GFP_FS` inside a NOFS scope:
//!   what it reaches (`->nr_cached_objects`, `->free_cached_objects`,
//!   `->evict_inode` and `->destroy_inode` through `prune_icache_sb()`)
//!   never runs inside a NOFS scope.
//! - `kernel/workqueue.c` `process_one_work()` and `kernel/kthread.c`
//!   `kthread()` call the work or thread function with no scope.
//! - `fs/super.c` `get_tree_bdev()` (`get_tree_bdev_flags()` in 6.12),
//!   `get_tree_nodev()`, `get_tree_single()`, `get_tree_keyed()` (through
//!   `vfs_get_super()`), `mount_bdev()`, `mount_nodev()` and
//!   `mount_single()` call the `fill_super` they are given while mounting:
//!   `vfs_get_tree()` calls `fc->ops->get_tree()` (or `legacy_get_tree()`
//!   in `fs/fs_context.c`, the `->mount` of old filesystems) from the
//!   mount syscall (`do_new_mount()` in `fs/namespace.c`, `fsconfig()`'s
//!   `FSCONFIG_CMD_CREATE`); none of them, in 6.1 or 6.12, opens a
//!   memalloc scope. `xfs_fs_get_tree()` is `return get_tree_bdev(fc,
//!   xfs_fs_fill_super);`.
//! - a shrinker's `->scan_objects` runs from `shrink_slab()` both in kswapd
//!   (no scope) and in the direct reclaim of whatever task allocated, with
//!   that task's scope still set: its context is the allocator's, unknown.

use crate::task::Scope;

/// How the core reaches the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Registered in field `field` of an initializer of `struct strukt`
    /// (or assigned to `x->field` when the field name alone is listed).
    Field {
        strukt: &'static str,
        field: &'static str,
    },
    /// Passed as argument `arg` (0-based) of `callee` (`INIT_WORK`).
    Arg { callee: &'static str, arg: usize },
}

/// The scope the calling task is in when the core calls the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerScope {
    /// No NOFS/NOIO scope: a syscall, a worker, reclaim gated on `__GFP_FS`.
    None,
    /// Inside this scope.
    In(Scope),
    /// Whatever the allocating task had (direct reclaim): not known here.
    Inherited,
}

/// One calling context of a slot: who calls it, from which file, in what scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub caller: &'static str,
    pub file: &'static str,
    pub scope: CallerScope,
    pub why: &'static str,
}

const SYSCALL_RW: Context = Context {
    caller: "vfs_read/vfs_write",
    file: "fs/read_write.c",
    scope: CallerScope::None,
    why: "a read/write syscall calls the method with no memalloc scope",
};
const LOOP_WORKER: Context = Context {
    caller: "loop_process_work",
    file: "drivers/block/loop.c",
    scope: CallerScope::In(Scope::Noio),
    why: "the loop worker sets PF_MEMALLOC_NOIO, then lo_rw_aio/lo_req_flush/lo_fallocate call the backing file's methods",
};
const SYSCALL: Context = Context {
    caller: "vfs",
    file: "fs/namei.c",
    scope: CallerScope::None,
    why: "a syscall calls the method with no memalloc scope",
};
const WRITEBACK: Context = Context {
    caller: "wb_workfn",
    file: "fs/fs-writeback.c",
    scope: CallerScope::None,
    why: "the writeback worker calls do_writepages() with no memalloc scope",
};
const SUPER_SCAN: Context = Context {
    caller: "super_cache_scan",
    file: "fs/super.c",
    scope: CallerScope::None,
    why: "super_cache_scan() stops unless sc->gfp_mask has __GFP_FS, which current_gfp_context() clears inside a NOFS scope",
};
const WORKER: Context = Context {
    caller: "process_one_work",
    file: "kernel/workqueue.c",
    scope: CallerScope::None,
    why: "a workqueue worker calls the work function with no memalloc scope",
};
const KTHREAD: Context = Context {
    caller: "kthread",
    file: "kernel/kthread.c",
    scope: CallerScope::None,
    why: "a new kernel thread starts with no memalloc scope",
};
const MOUNT: Context = Context {
    caller: "vfs_get_tree",
    file: "fs/super.c",
    scope: CallerScope::None,
    why: "the mount syscall reaches fill_super through vfs_get_tree() and get_tree_bdev()/mount_bdev() with no memalloc scope",
};
const KSWAPD: Context = Context {
    caller: "kswapd",
    file: "mm/vmscan.c",
    scope: CallerScope::None,
    why: "kswapd's shrink_slab() runs with no memalloc scope",
};
const DIRECT_RECLAIM: Context = Context {
    caller: "shrink_slab",
    file: "mm/vmscan.c",
    scope: CallerScope::Inherited,
    why: "direct reclaim runs the shrinker in the allocating task, whose scope is not known here",
};

/// One entry point: the slots and their calling contexts.
#[derive(Clone, Copy, Debug)]
pub struct Root {
    pub slot: Slot,
    pub contexts: &'static [Context],
}

macro_rules! fields {
    ($s:literal, [$($f:literal),*], $ctx:expr) => {
        [$(Root { slot: Slot::Field { strukt: $s, field: $f }, contexts: $ctx }),*]
    };
}

const FOPS_LOOP: &[Root] = &fields!(
    "file_operations",
    ["read_iter", "write_iter", "fsync", "fallocate"],
    &[SYSCALL_RW, LOOP_WORKER]
);
const FOPS: &[Root] = &fields!(
    "file_operations",
    [
        "open",
        "release",
        "unlocked_ioctl",
        "compat_ioctl",
        "mmap",
        "llseek",
        "iterate_shared",
        "splice_read",
        "splice_write",
        "remap_file_range",
        "flush",
        "poll",
        "fadvise",
        "copy_file_range"
    ],
    &[SYSCALL]
);
const IOPS: &[Root] = &fields!(
    "inode_operations",
    [
        "lookup",
        "create",
        "mkdir",
        "unlink",
        "rmdir",
        "rename",
        "symlink",
        "link",
        "mknod",
        "setattr",
        "getattr",
        "listxattr",
        "get_link",
        "tmpfile",
        "fiemap",
        "permission",
        "get_acl",
        "set_acl",
        "update_time",
        "fileattr_set",
        "fileattr_get"
    ],
    &[SYSCALL]
);
const AOPS_LOOP: &[Root] = &fields!(
    "address_space_operations",
    [
        "read_folio",
        "readahead",
        "write_begin",
        "write_end",
        "direct_IO"
    ],
    &[SYSCALL_RW, LOOP_WORKER]
);
const AOPS_WB: &[Root] = &fields!(
    "address_space_operations",
    ["writepages", "writepage"],
    &[WRITEBACK, LOOP_WORKER]
);
const SOPS: &[Root] = &fields!(
    "super_operations",
    [
        "alloc_inode",
        "free_inode",
        "put_super",
        "sync_fs",
        "freeze_fs",
        "unfreeze_fs",
        "statfs",
        "remount_fs",
        "show_options"
    ],
    &[SYSCALL]
);
const SOPS_SCAN: &[Root] = &fields!(
    "super_operations",
    [
        "nr_cached_objects",
        "free_cached_objects",
        "evict_inode",
        "destroy_inode",
        "drop_inode"
    ],
    &[SYSCALL, SUPER_SCAN]
);
const SOPS_WRITE: &[Root] = &fields!(
    "super_operations",
    ["dirty_inode", "write_inode"],
    &[WRITEBACK, LOOP_WORKER]
);
const EXPORT: &[Root] = &fields!(
    "export_operations",
    [
        "fh_to_dentry",
        "fh_to_parent",
        "get_parent",
        "encode_fh",
        "commit_metadata"
    ],
    &[Context {
        caller: "nfsd",
        file: "fs/nfsd/nfssvc.c",
        scope: CallerScope::None,
        why: "nfsd threads call export operations with no memalloc scope",
    }]
);
const SHRINKER: &[Root] = &fields!(
    "shrinker",
    ["scan_objects", "count_objects"],
    &[KSWAPD, DIRECT_RECLAIM]
);
const ARGS: &[Root] = &[
    Root {
        slot: Slot::Arg {
            callee: "INIT_WORK",
            arg: 1,
        },
        contexts: &[WORKER],
    },
    Root {
        slot: Slot::Arg {
            callee: "INIT_DELAYED_WORK",
            arg: 1,
        },
        contexts: &[WORKER],
    },
    Root {
        slot: Slot::Arg {
            callee: "DECLARE_WORK",
            arg: 1,
        },
        contexts: &[WORKER],
    },
    Root {
        slot: Slot::Arg {
            callee: "DECLARE_DELAYED_WORK",
            arg: 1,
        },
        contexts: &[WORKER],
    },
    Root {
        slot: Slot::Arg {
            callee: "kthread_run",
            arg: 0,
        },
        contexts: &[KTHREAD],
    },
    Root {
        slot: Slot::Arg {
            callee: "kthread_create",
            arg: 0,
        },
        contexts: &[KTHREAD],
    },
];

/// `fill_super` callbacks, by the argument the mount helper takes them in.
const MOUNT_ARGS: &[Root] = &[
    mount_arg("get_tree_bdev", 1),
    mount_arg("get_tree_bdev_flags", 1),
    mount_arg("get_tree_nodev", 1),
    mount_arg("get_tree_single", 1),
    mount_arg("get_tree_single_reconf", 1),
    mount_arg("get_tree_keyed", 1),
    mount_arg("mount_bdev", 4),
    mount_arg("mount_nodev", 3),
    mount_arg("mount_single", 3),
];

const fn mount_arg(callee: &'static str, arg: usize) -> Root {
    Root {
        slot: Slot::Arg { callee, arg },
        contexts: &[MOUNT],
    }
}

const TABLES: &[&[Root]] = &[
    FOPS_LOOP, FOPS, IOPS, AOPS_LOOP, AOPS_WB, SOPS, SOPS_SCAN, SOPS_WRITE, EXPORT, SHRINKER, ARGS,
    MOUNT_ARGS,
];

/// The entry point for a registration `.field = f` in an initializer of
/// `struct strukt`, or `x->field = f` (`strukt` unknown: matched only when
/// exactly one listed struct has that field).
pub fn field_root(strukt: Option<&str>, field: &str) -> Option<&'static Root> {
    let mut hits = TABLES
        .iter()
        .flat_map(|t| t.iter())
        .filter(|r| match r.slot {
            Slot::Field {
                strukt: s,
                field: f,
            } => f == field && strukt.is_none_or(|x| x == s),
            Slot::Arg { .. } => false,
        });
    let first = hits.next()?;
    match (strukt, hits.next()) {
        (None, Some(_)) => None,
        _ => Some(first),
    }
}

/// The entry point for `f` passed as argument `arg` of `callee`.
pub fn arg_root(callee: &str, arg: usize) -> Option<&'static Root> {
    ARGS.iter()
        .chain(MOUNT_ARGS)
        .find(|r| matches!(r.slot, Slot::Arg { callee: c, arg: a } if c == callee && a == arg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_iter_is_mixed_by_the_loop_worker() {
        // vfs_write: no scope; loop_process_work: PF_MEMALLOC_NOIO.
        let r = field_root(Some("file_operations"), "write_iter").unwrap();
        let scopes: Vec<_> = r.contexts.iter().map(|c| c.scope).collect();
        assert_eq!(scopes, [CallerScope::None, CallerScope::In(Scope::Noio)]);
        // An unlisted table (xfs_defer_op_type) is not an entry point.
        assert!(field_root(Some("xfs_defer_op_type"), "finish_item").is_none());
        // `x->release = f` alone is ambiguous only if two structs list it.
        assert!(field_root(None, "write_iter").is_some());
        assert!(field_root(None, "open").is_some());
        assert_eq!(
            arg_root("INIT_WORK", 1).unwrap().contexts[0].caller,
            "process_one_work"
        );
        assert!(arg_root("INIT_WORK", 0).is_none());
        // fs/super.c: get_tree_bdev(fc, fill_super), mount_bdev(type,
        // flags, dev, data, fill_super).
        assert_eq!(
            arg_root("get_tree_bdev", 1).unwrap().contexts[0].scope,
            CallerScope::None
        );
        assert!(arg_root("mount_bdev", 4).is_some());
        assert!(arg_root("get_tree_bdev", 0).is_none());
    }

    #[test]
    fn super_cache_scan_is_scope_free() {
        let r = field_root(Some("super_operations"), "free_cached_objects").unwrap();
        assert!(r.contexts.iter().all(|c| c.scope == CallerScope::None));
    }
}
