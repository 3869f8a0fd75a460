//! The standard workload a probe adds (it cannot see what runs): which
//! filesystems are stacked or back a device, and their tables and tasks.

use super::devices::{Builder, Modelled, chain};
use super::{HEADROOM, MAX_WORKLOAD_TASKS};
use crate::toml::Table;
use crate::topology::{DevKind, Process, Source, Topology};
use reclaimscope_model::history::{InodeReclaim, KernelParams, KernelVersion};

/// Filesystems whose device is more than a disk (a loop, daemon, dm or md
/// device, a partition of one, or FUSE).
pub(super) fn stacked(t: &Topology, i: usize) -> bool {
    fn dev_stacked(t: &Topology, name: &str, depth: usize) -> bool {
        let Some(d) = t.device(name) else {
            return false;
        };
        match &d.kind {
            DevKind::Disk | DevKind::Unknown { .. } => false,
            DevKind::Partition { parent } => depth < 16 && dev_stacked(t, parent, depth + 1),
            _ => true,
        }
    }
    match &t.filesystems[i].backing {
        Some(Source::Fuse { .. }) => true,
        Some(Source::Block(d)) => dev_stacked(t, d, 0),
        None => false,
    }
}

/// Paths some device or daemon reads and writes: loop backing files, tcmu
/// configs, and every regular file a serving process holds open.
pub(super) fn served_paths(t: &Topology) -> Vec<String> {
    let mut v = Vec::new();
    let proc_files = |p: &Option<Process>, v: &mut Vec<String>| {
        if let Some(p) = p {
            v.extend(p.files.iter().cloned());
            v.extend(p.cwd.iter().cloned());
        }
    };
    for d in &t.devices {
        match &d.kind {
            DevKind::Loop { backing: Some(b) } => v.push(b.clone()),
            DevKind::Tcmu { file, server, .. } => {
                v.extend(file.iter().cloned());
                proc_files(server, &mut v);
            }
            DevKind::Nbd { server } | DevKind::Ublk { server } => proc_files(server, &mut v),
            _ => {}
        }
    }
    for f in &t.filesystems {
        if let Some(Source::Fuse { daemon, .. }) = &f.backing {
            proc_files(daemon, &mut v);
        }
    }
    v
}

/// What the standard workload adds, per kept filesystem.
pub(super) struct Workload {
    pub stack_lines: Vec<String>,
    pub fs_tables: Vec<Table>,
    pub locks: Vec<String>,
    pub tasks: Vec<Table>,
    /// Task names, for the header.
    pub names: Vec<String>,
}

/// `[[fs]]` tables with the standard workload: a writer on every
/// filesystem on a stacked device (or on `/` when nothing is stacked), a
/// NOFS task and a journal on every filesystem that backs a device.
pub(super) fn workload(
    t: &Topology,
    b: &Builder<'_>,
    kept: &[usize],
    fs_dev: &[Option<Modelled>],
    notes: &mut Vec<String>,
) -> Workload {
    let mut stack_lines = Vec::new();
    let mut fs_tables = Vec::new();
    let mut locks = Vec::new();
    let mut tasks: Vec<Table> = Vec::new();
    let mut workload = Vec::new();
    let writers: Vec<usize> = {
        let s: Vec<usize> = kept.iter().copied().filter(|&i| stacked(t, i)).collect();
        if s.is_empty() {
            let root = kept
                .iter()
                .copied()
                .find(|&i| t.filesystems[i].mount_points.iter().any(|m| m == "/"))
                .or_else(|| kept.first().copied());
            root.into_iter().collect()
        } else {
            s
        }
    };
    let nothing_stacked = kept.iter().all(|&i| !stacked(t, i));
    for &i in kept {
        let f = &t.filesystems[i];
        let fsname = b.fs_name(i).unwrap_or_default().to_string();
        let dev = fs_dev[i].clone().map_or_else(String::new, |m| m.name);
        stack_lines.push(format!(
            "{fsname}: {} on {} from {}",
            f.fstype,
            f.mount_points.join(", "),
            chain(b, &dev)
        ));
        let mut ft = Table::array("fs");
        ft.comment(format!(
            "{} on {} ({}, {}:{})",
            f.fstype,
            f.mount_points.join(", "),
            f.source,
            f.major,
            f.minor
        ));
        ft.set("name", fsname.as_str())
            .set("type", f.fstype.as_str())
            .set("dev", dev.as_str());
        let is_backing = b.backing.contains(&i);
        let is_writer = writers.contains(&i);
        if is_backing {
            ft.set_c(
                "clean",
                6u16,
                "workload: clean page cache reclaim can take without I/O",
            );
            let lock = format!("{fsname}.journal");
            ft.set_c(
                "write_locks",
                vec![lock.clone()],
                "a buffered write (and a device server writing here) takes the journal",
            );
            locks.push(lock.clone());
            if tasks.len() < MAX_WORKLOAD_TASKS {
                let mut tt = Table::array("task");
                tt.comment(format!(
                    "workload: a task in a NOFS section on {fsname}, which backs a device \
                     (a transaction: memalloc_nofs_save() under the journal)"
                ));
                tt.set("name", format!("nofs-{fsname}"))
                    .set("fs", fsname.as_str())
                    .set(
                        "program",
                        vec![
                            format!("lock {lock}"),
                            "scope nofs".into(),
                            "alloc gfp=GFP_KERNEL pages=1".into(),
                            "end".into(),
                            "free pages=1".into(),
                            format!("unlock {lock}"),
                        ],
                    );
                tasks.push(tt);
                workload.push(format!("nofs-{fsname}"));
            } else {
                notes.push(format!(
                    "nofs-{fsname}: left out (at most {MAX_WORKLOAD_TASKS} workload tasks)"
                ));
            }
        }
        if is_writer {
            let fuse = matches!(f.backing, Some(Source::Fuse { .. }));
            if !is_backing {
                ft.set_c(
                    "clean",
                    2u16,
                    "workload: some clean page cache, as every running machine has",
                );
            }
            ft.set_c(
                "inodes",
                2u16,
                "workload: inodes its superblock shrinker may evict",
            );
            if fuse {
                ft.set_c(
                    "dirty_inodes",
                    0u16,
                    "FUSE eviction does not wait for the daemon: writeback copies into a \
                     temporary page and ends at once (fuse_writepage_locked, fs/fuse/file.c; \
                     so in every LTS through 6.12)",
                );
            } else {
                ft.set_c(
                    "dirty_inodes",
                    1u16,
                    "of those, one dirty: see inode_reclaim for whether reclaim writes it",
                );
                if let Some((mode, why)) = inode_reclaim(&f.fstype, t.kernel.as_deref()) {
                    ft.set_c("inode_reclaim", mode, why);
                }
            }
            if tasks.len() < MAX_WORKLOAD_TASKS {
                let mut tt = Table::array("task");
                tt.comment(if nothing_stacked {
                    format!(
                        "workload: nothing here is stacked, so one writer on {fsname} \
                         exercises the plain writeback path"
                    )
                } else {
                    format!(
                        "workload: a writer dirtying {fsname}, which sits on a stacked device; \
                         one page more than is free above min, so it reclaims itself"
                    )
                });
                tt.set("name", format!("write-{fsname}"))
                    .set("fs", fsname.as_str())
                    .set(
                        "program",
                        vec![
                            format!("write {fsname}:/probe-writer pages={}", HEADROOM + 1),
                            format!("fsync {fsname}"),
                        ],
                    );
                tasks.push(tt);
                workload.push(format!("write-{fsname}"));
            } else {
                notes.push(format!(
                    "write-{fsname}: left out (at most {MAX_WORKLOAD_TASKS} workload tasks)"
                ));
            }
        }
        fs_tables.push(ft);
    }
    Workload {
        stack_lines,
        fs_tables,
        locks,
        tasks,
        names: workload,
    }
}

/// What the superblock shrinker of an `fstype` does with a dirty inode on
/// the probed kernel (the model's `KernelParams::inode_reclaim`), written
/// out so that checking the file without `--kernel` gives the same answer
/// as `check --system` (`--kernel` on the file sets it again). `None`: a
/// type the model does not know, left at the scenario default (write and
/// wait, the worst case).
fn inode_reclaim(fstype: &str, kernel: Option<&str>) -> Option<(&'static str, String)> {
    let v = kernel.and_then(|k| KernelVersion::parse(k).ok());
    let Some(v) = v else {
        return Some((
            "write-and-wait",
            "kernel unknown: the worst case (XFS before v5.9)".into(),
        ));
    };
    Some(match KernelParams::for_version(v).inode_reclaim(fstype)? {
        InodeReclaim::WriteAndWait => (
            "write-and-wait",
            format!(
                "{v}: the shrinker writes a dirty inode and waits (xfs_reclaim_inode before 617825fe3489, v5.9)"
            ),
        ),
        InodeReclaim::SkipDirty => (
            "skip-dirty",
            format!(
                "{v}: the shrinker leaves dirty inodes to writeback (inode_lru_isolate; xfs_reclaim_inode from v5.9)"
            ),
        ),
    })
}
