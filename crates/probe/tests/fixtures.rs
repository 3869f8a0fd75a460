//! Captured trees written by hand from the kernel's sysfs and proc
//! documentation (Documentation/ABI/testing/sysfs-block*, stable/sysfs-dev,
//! Documentation/filesystems/proc.rst) and the drivers that print each file
//! (see `block.rs` and `proc.rs` for which). For each: the topology the
//! probe reads, the scenario it writes, and the `check` verdict under the
//! baseline policy per LTS kernel (`--kernel X.Y`, i.e.
//! `Scenario::apply_overrides`), with the kernel reasoning next to it.

use reclaimscope_check::checker::Options;
use reclaimscope_check::sim_model::{Plan, check_sim};
use reclaimscope_model::Policy;
use reclaimscope_model::history;
use reclaimscope_probe::topology::{DevKind, DmTarget, Source};
use reclaimscope_probe::{Root, Topology, probe, write_scenario};
use reclaimscope_sim::scenario::DevKind as SimDev;
use reclaimscope_sim::{Scenario, Sim};
use std::path::PathBuf;

/// kernel.org's longterm series, as `--kernel lts` checks them
/// (`reclaimscope_model::history::LTS`).
const LTS: [&str; 7] = ["4.19", "5.4", "5.10", "5.15", "6.1", "6.6", "6.12"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn probed(name: &str) -> (Topology, Scenario, String) {
    let root = Root::new(fixture(name));
    let t = probe(&root);
    let w = write_scenario(&t, name, name);
    let sc = Scenario::from_toml_str(&w.toml, name)
        .unwrap_or_else(|e| panic!("{name}: written scenario does not load: {e:?}\n{}", w.toml));
    (t, sc, w.toml)
}

/// The baseline verdict on kernel `k`, and the rendered report.
fn verdict(sc: &Scenario, k: &str) -> (&'static str, String) {
    let mut sc = sc.clone();
    sc.apply_overrides(Some(k), &[]).unwrap();
    let sim = Sim::new(&sc, &Policy::BASELINE).unwrap();
    let o = check_sim(
        &sim,
        sc.name(),
        "baseline",
        &Options::default(),
        Plan { livelock: true },
    );
    (o.verdict, o.render_text())
}

#[test]
fn the_lts_list_is_the_models() {
    let model: Vec<String> = history::LTS.iter().map(ToString::to_string).collect();
    assert_eq!(model, LTS);
}

fn verdicts(sc: &Scenario) -> Vec<(&'static str, &'static str)> {
    LTS.iter().map(|k| (*k, verdict(sc, k).0)).collect()
}

/// A device of the loaded scenario, by names: the one place these tests
/// read the simulator's device representation.
#[derive(Debug, PartialEq, Eq)]
enum Dev {
    Disk,
    Loop {
        fs: String,
        file: String,
        noio: bool,
    },
    Dm {
        target: String,
        lower: String,
    },
    Daemon {
        kind: String,
        process: String,
        fs: String,
        file: String,
        io_flusher: bool,
    },
}

fn dev(sc: &Scenario, name: &str) -> Dev {
    let d = sc
        .devices
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no device {name}"));
    match &d.kind {
        SimDev::Disk => Dev::Disk,
        SimDev::Loop { fs, file, noio } => Dev::Loop {
            fs: sc.fss[*fs].name.clone(),
            file: file.clone(),
            noio: *noio,
        },
        SimDev::Dm { target, lower } => Dev::Dm {
            target: target.clone(),
            lower: sc.devices[*lower].name.clone(),
        },
        SimDev::Daemon {
            kind,
            process,
            fs,
            file,
            io_flusher,
            ..
        } => Dev::Daemon {
            kind: kind.clone(),
            process: process.clone(),
            fs: fs.map_or_else(String::new, |f| sc.fss[f].name.clone()),
            file: file.clone(),
            io_flusher: *io_flusher,
        },
    }
}

fn dev_name(sc: &Scenario, i: usize) -> &str {
    &sc.devices[i].name
}

fn fs_named<'a>(sc: &'a Scenario, name: &str) -> &'a reclaimscope_sim::scenario::Fs {
    sc.fss
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fs {name}"))
}

#[test]
fn ext4_on_a_disk_is_safe_on_every_lts() {
    let (t, sc, _) = probed("ext4-disk");
    assert_eq!(t.kernel.as_deref(), Some("6.1.0-18-amd64"));
    assert_eq!(t.filesystems.len(), 2);
    assert_eq!(t.filesystems[0].backing, Some(Source::Block("sda1".into())));
    assert_eq!(
        t.device("sda1").unwrap().kind,
        DevKind::Partition {
            parent: "sda".into()
        }
    );
    assert_eq!(t.device("sda").unwrap().kind, DevKind::Disk);
    assert_eq!(t.other_mounts.len(), 4, "proc, sysfs, devtmpfs, tmpfs");
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    // Partitions of a plain disk are disks in the model.
    assert_eq!(dev(&sc, "sda1"), Dev::Disk);
    assert_eq!(dev_name(&sc, fs_named(&sc, "ext4-sda1").dev), "sda1");
    // Nothing stacked: one writer on `/`, nothing backing a device.
    assert_eq!(sc.tasks.len(), 1);
    assert_eq!(sc.tasks[0].name, "write-ext4-sda1");
    // Watermarks: zoneinfo sums min 7696, low 9620, high 11544 (ratios
    // 1 : 1.25 : 1.5), scaled so min = 4.
    assert_eq!(
        (sc.memory.min, sc.memory.low, sc.memory.high, sc.memory.free),
        (4, 5, 6, 6)
    );
    // The writer's third page takes it into direct reclaim; its sources are
    // ext4's clean page cache and ext4's superblock shrinker, whose dirty
    // inode writeback goes to sda1 and is completed by the disk itself
    // (no task of this machine serves it). No release changes that: safe.
    for (k, v) in verdicts(&sc) {
        assert_eq!(v, "safe", "kernel {k}");
    }
}

#[test]
fn xfs_on_loop_over_ext4_deadlocks_before_5_3() {
    let (t, sc, toml) = probed("loop-xfs-on-ext4");
    assert_eq!(
        t.device("loop0").unwrap().kind,
        DevKind::Loop {
            backing: Some("/srv/images/xfs.img".into())
        }
    );
    assert_eq!(t.idle_devices, ["loop1"], "unbound loop1 is idle");
    assert_eq!(
        dev(&sc, "loop0"),
        Dev::Loop {
            fs: "ext4-sda1".into(),
            file: "/srv/images/xfs.img".into(),
            noio: false
        }
    );
    assert_eq!(dev_name(&sc, fs_named(&sc, "xfs-loop0").dev), "loop0");
    assert_eq!(sc.fs_depth(1), 1, "xfs is one level above ext4");
    let names: Vec<&str> = sc.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["nofs-ext4-sda1", "write-xfs-loop0"]);
    assert!(
        toml.contains("d0a255e795ab"),
        "the noio comment names the fix"
    );
    // Before v5.3 the loop worker (`loop_process_work` / `lo_write_bvec`
    // -> `vfs_iter_write` on the ext4 file) runs with no scope: its
    // page-cache allocation in `ext4_write_begin` is GFP_KERNEL-derived,
    // direct reclaim may call XFS's `super_cache_scan`, whose dirty inode
    // writeback is a bio to loop0 -- served only by this same worker.
    // d0a255e795ab ("loop: set PF_MEMALLOC_NOIO for the worker thread",
    // v5.3) makes `current_gfp_context()` clear __GFP_IO|__GFP_FS, so the
    // superblock shrinker returns SHRINK_STOP and reclaim takes ext4's
    // clean page cache instead.
    let v = verdicts(&sc);
    assert_eq!(
        v,
        [
            ("4.19", "deadlock"),
            ("5.4", "safe"),
            ("5.10", "safe"),
            ("5.15", "safe"),
            ("6.1", "safe"),
            ("6.6", "safe"),
            ("6.12", "safe")
        ]
    );
    let (_, text) = verdict(&sc, "4.19");
    assert!(text.contains("loop0"), "{text}");
}

#[test]
fn xfs_on_dm_zoned_on_tcmu_over_ext4_deadlocks_before_5_9() {
    let (t, sc, toml) = probed("tcmu-zoned-xfs");
    let dm = t.device("dm-0").unwrap();
    // dm-zoned: a regular device (queue/zoned none) over a host-managed one.
    assert_eq!(
        dm.kind,
        DevKind::Dm {
            name: "dmz-sdb".into(),
            uuid: String::new(),
            target: DmTarget::Zoned
        }
    );
    assert_eq!(dm.lower, ["sdb"]);
    match &t.device("sdb").unwrap().kind {
        DevKind::Tcmu {
            uio, file, server, ..
        } => {
            assert_eq!(uio, "uio0");
            assert_eq!(file.as_deref(), Some("/srv/zoned.img"));
            let s = server.as_ref().expect("tcmu-runner holds /dev/uio0");
            assert_eq!((s.pid, s.comm.as_str()), (812, "tcmu-runner"));
            // 6.1 is in the range whose PF_ flag values were read: the
            // stat flags 0x400100 have neither PF_MEMALLOC_NOIO nor
            // PF_LOCAL_THROTTLE.
            assert_eq!(s.io_flusher, Some(false));
            assert_eq!(s.files, ["/srv/zoned.img"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dev(&sc, "dm-0"),
        Dev::Dm {
            target: "zoned".into(),
            lower: "sdb".into()
        }
    );
    assert_eq!(
        dev(&sc, "sdb"),
        Dev::Daemon {
            kind: "tcmu".into(),
            process: "tcmu-runner".into(),
            fs: "ext4-sda1".into(),
            file: "/srv/zoned.img".into(),
            io_flusher: false
        }
    );
    // The story of "Re: [PATCH] ext4: Fix deadlock on page reclaim"
    // (linux-ext4, 2019-07-30): tcmu-runner's pwrite() to the ext4 file
    // allocates page cache with GFP_KERNEL (no scope: a userspace process
    // gets none from the kernel), direct reclaim calls XFS's
    // `super_cache_scan` -> `xfs_reclaim_inodes_nr`, and before v5.9
    // `xfs_reclaim_inode` flushes a dirty inode's cluster buffer to
    // dm-zoned -> sdb and waits (SYNC_WAIT), which only tcmu-runner serves:
    // deadlock on 4.19 and 5.4.
    // From v5.9, 617825fe3489 ("xfs: remove IO submission from
    // xfs_reclaim_inode()"): `xfs_reclaim_inode` skips an inode that is
    // not `xfs_inode_clean` and `xfs_reclaim_inodes_nr` only pushes the
    // AIL, so reclaim never waits for sdb; clean page cache and clean
    // inodes are enough: safe from 5.10. (What is left on 5.10 before the
    // v5.14 inodegc workers, ab23a7768739, is `xfs_inactive` ->
    // `xfs_free_eofblocks` waiting for log space from `prune_icache_sb`;
    // that needs a full log, which the probe cannot see, and it declares
    // no log lock: not asserted here.)
    assert_eq!(
        verdicts(&sc),
        [
            ("4.19", "deadlock"),
            ("5.4", "deadlock"),
            ("5.10", "safe"),
            ("5.15", "safe"),
            ("6.1", "safe"),
            ("6.6", "safe"),
            ("6.12", "safe")
        ]
    );
    let (_, text) = verdict(&sc, "5.4");
    assert!(text.contains("tcmu-runner"), "{text}");
    // The file as written (no --kernel) says what the probed 6.1 does: the
    // probe writes `inode_reclaim` for the kernel it read.
    assert!(toml.contains("inode_reclaim = \"skip-dirty\""), "{toml}");
    let sim = Sim::new(&sc, &Policy::BASELINE).unwrap();
    let o = check_sim(
        &sim,
        "t",
        "baseline",
        &Options::default(),
        Plan { livelock: true },
    );
    assert_eq!(o.verdict, verdict(&sc, "6.1").0);
    // The fixes argued in that thread, on 5.4 (where the cycle exists):
    // PR_SET_IO_FLUSHER in the runner (`io-flusher`, the policy, not the
    // prctl of 5.6) makes its allocations NOIO and breaks the cycle; a
    // bio-carried context (`bio-context`) cannot, since tcmu-runner's
    // pwrite() carries no bio ("there is no BIO to work with").
    let mut sc54 = sc.clone();
    sc54.apply_overrides(Some("5.4"), &[]).unwrap();
    let by_policy = |p: &str| {
        let sim = Sim::new(&sc54, &Policy::parse(p).unwrap()).unwrap();
        check_sim(&sim, "t", p, &Options::default(), Plan { livelock: true }).verdict
    };
    assert_eq!(by_policy("io-flusher"), "safe");
    assert_eq!(by_policy("bio-context"), "deadlock");
}

#[test]
fn nbd_backed_ext4_is_safe_because_ext4_reclaim_never_writes_inodes() {
    let (t, sc, _) = probed("nbd-qemu");
    assert_eq!(
        t.device("nbd0p1").unwrap().kind,
        DevKind::Partition {
            parent: "nbd0".into()
        }
    );
    match &t.device("nbd0").unwrap().kind {
        DevKind::Nbd { server: Some(p) } => {
            assert_eq!((p.pid, p.comm.as_str()), (901, "qemu-nbd"));
            assert_eq!(p.files, ["/var/lib/images/vm.qcow2"]);
        }
        other => panic!("{other:?}"),
    }
    // A partition of a served device forwards to it.
    assert_eq!(
        dev(&sc, "nbd0p1"),
        Dev::Dm {
            target: "linear".into(),
            lower: "nbd0".into()
        }
    );
    assert_eq!(
        dev(&sc, "nbd0"),
        Dev::Daemon {
            kind: "nbd".into(),
            process: "qemu-nbd".into(),
            fs: "ext4-sda1".into(),
            file: "/var/lib/images/vm.qcow2".into(),
            io_flusher: false
        }
    );
    // qemu-nbd serves requests by pwrite() to the image on ext4 (the
    // kernel side, `sock_xmit` in drivers/block/nbd.c, runs under
    // memalloc_noreclaim_save(), but the server process has no scope): its
    // GFP_KERNEL page-cache allocation may enter the ext4-on-nbd
    // superblock shrinker. That shrinker never writes an inode:
    // `prune_icache_sb` -> `inode_lru_isolate` (fs/inode.c, the same from
    // 4.19 to 6.12) takes a dirty inode off the LRU instead of evicting it
    // (`i_state & ~I_REFERENCED`) and skips one with page cache, and
    // `ext4_evict_inode` of a linked, pageless inode starts no handle; the
    // flusher, not reclaim, writes dirty ext4 inodes. Dirty and writeback
    // pages are not waited on by global direct reclaim. So nothing reclaim
    // does waits for nbd0: safe on every release. (The throttling
    // PR_SET_IO_FLUSHER also lifts, PF_LOCAL_THROTTLE in
    // `balance_dirty_pages`, is not reclaim recursion and not modelled.)
    for (k, v) in verdicts(&sc) {
        assert_eq!(v, "safe", "kernel {k}");
    }
    // The dependency the probe read is real, though: give the ext4-on-nbd
    // superblock a shrinker that writes dirty inodes and waits (what XFS's
    // `xfs_reclaim_inode` did before v5.9) and qemu-nbd's own reclaim
    // waits for the I/O only qemu-nbd serves.
    let mut w = sc.clone();
    w.apply_overrides(
        Some("6.1"),
        &["ext4-nbd0p1.inode_reclaim=write-and-wait".into()],
    )
    .unwrap();
    let sim = Sim::new(&w, &Policy::BASELINE).unwrap();
    let o = check_sim(
        &sim,
        "w",
        "baseline",
        &Options::default(),
        Plan { livelock: true },
    );
    assert_eq!(o.verdict, "deadlock");
    assert!(o.render_text().contains("qemu-nbd"));

    let (t, sc, toml) = probed("nbd-remote");
    match &t.device("nbd0").unwrap().kind {
        DevKind::Nbd { server: Some(p) } => {
            assert_eq!(p.comm, "nbd-client");
            assert!(p.files.is_empty(), "only /dev/nbd0 and a socket");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dev(&sc, "nbd0"), Dev::Disk);
    assert!(toml.contains("sock_xmit"), "the assumption is stated");
    // nbd-client only sits in NBD_DO_IT; requests leave this machine over
    // the socket from the kernel under memalloc_noreclaim_save(), so no
    // local task serves nbd0 through this machine's page cache: safe.
    for (k, v) in verdicts(&sc) {
        assert_eq!(v, "safe", "kernel {k}");
    }
    // This one is XFS, whose shrinker writes dirty inodes and waits before
    // v5.9 (`xfs_reclaim_inode`): on 4.19 and 5.4 that wait ends at the
    // remote server, not at a task of this machine, so those are safe too.
}

#[test]
fn dm_crypt_over_md_raid1_root_with_a_swap_file_is_safe() {
    let (t, sc, _) = probed("crypt-md-root");
    assert_eq!(t.filesystems[0].mount_points, ["/"]);
    assert_eq!(t.filesystems[0].backing, Some(Source::Block("dm-0".into())));
    assert!(matches!(&t.device("dm-0").unwrap().kind,
        DevKind::Dm { target: DmTarget::Crypt, name, .. } if name == "root"));
    assert_eq!(
        t.device("md0").unwrap().kind,
        DevKind::Md {
            level: "raid1".into()
        }
    );
    assert_eq!(t.device("md0").unwrap().lower, ["sda2", "sdb2"]);
    assert_eq!(t.swaps.len(), 1);
    // dm-0 -> md0 -> sda2 (the first member: both are disks).
    assert_eq!(
        dev(&sc, "dm-0"),
        Dev::Dm {
            target: "linear".into(),
            lower: "md0".into()
        }
    );
    assert_eq!(
        dev(&sc, "md0"),
        Dev::Dm {
            target: "linear".into(),
            lower: "sda2".into()
        }
    );
    // The swap file's bios go to the root filesystem's device.
    assert_eq!(sc.memory.swap_dev.map(|d| dev_name(&sc, d)), Some("dm-0"));
    assert_eq!((sc.memory.anon, sc.memory.swap_pages), (2, 2));
    // dm-crypt (`crypt_alloc_buffer`: GFP_NOWAIT pages, then its page
    // mempool with direct reclaim but no __GFP_IO or __GFP_FS) and raid1 (`raid1_write_request`
    // clones bios from its bio_set) are kernel code that never enters
    // filesystem reclaim; every bio, including swap-out from
    // `swap_writepage`, ends at a disk. Reclaim of the root's inodes or of
    // anonymous memory always completes: safe on every release.
    for (k, v) in verdicts(&sc) {
        assert_eq!(v, "safe", "kernel {k}");
    }
}

#[test]
fn fuse_passthrough_daemon_is_safe_because_eviction_does_not_wait_for_it() {
    let (t, sc, toml) = probed("fuse-bindfs");
    let f = &t.filesystems[1];
    assert_eq!(f.fstype, "fuse.bindfs");
    match &f.backing {
        Some(Source::Fuse {
            conn,
            daemon: Some(p),
        }) => {
            assert_eq!((*conn, p.comm.as_str()), (52, "bindfs"));
            assert_eq!(p.cwd.as_deref(), Some("/srv/export"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dev(&sc, "fuse52"),
        Dev::Daemon {
            kind: "fuse".into(),
            process: "bindfs".into(),
            fs: "ext4-sda1".into(),
            file: "/srv/export".into(),
            io_flusher: false
        }
    );
    assert!(toml.contains("assumed it writes where its cwd is"));
    assert_eq!(fs_named(&sc, "fuse_bindfs-52").dirty_inodes, 0);
    // The daemon's pwrite() to ext4 may reclaim anything, including FUSE's
    // own superblock; but FUSE writeback copies each page into a temporary
    // one and ends writeback at once (`fuse_writepage_locked`,
    // fs/fuse/file.c, in every LTS up to 6.12), so evicting a FUSE inode
    // never waits for the daemon. Safe on every release.
    for (k, v) in verdicts(&sc) {
        assert_eq!(v, "safe", "kernel {k}");
    }
}

#[test]
fn unknown_devices_are_named_and_unreadable_files_reported() {
    let (t, sc, toml) = probed("unknown-devices");
    for (name, what) in [
        ("rbd0", "rbd"),
        ("nvme1n1", "NVMe over Fabrics (transport tcp)"),
        ("bcache0", "bcache"),
        ("zram0", "zram"),
        ("sdc", "iSCSI (a SCSI disk reached through session1)"),
    ] {
        assert!(
            matches!(&t.device(name).unwrap().kind, DevKind::Unknown { what: w } if w.starts_with(what)),
            "{name}"
        );
        assert_eq!(dev(&sc, name), Dev::Disk);
        assert!(
            toml.contains(&format!("# {name}: not modelled: {what}")),
            "{name} is named as not modelled"
        );
    }
    // /proc/zoneinfo is a directory in this tree: EISDIR is a problem, not
    // an absence, and the default watermarks are said to be assumed.
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert!(t.problems[0].contains("/proc/zoneinfo"));
    assert!(toml.contains("Could not read"));
    assert_eq!((sc.memory.min, sc.memory.low, sc.memory.high), (4, 5, 6));
    assert_eq!(sc.memory.swap_dev.map(|d| dev_name(&sc, d)), Some("zram0"));
}

#[test]
fn an_empty_tree_still_gives_a_scenario() {
    let dir = std::env::temp_dir().join(format!("rs-probe-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = Root::new(&dir);
    let t = probe(&root);
    let w = write_scenario(&t, "empty", "empty");
    let sc = Scenario::from_toml_str(&w.toml, "empty").unwrap();
    assert!(sc.fss.is_empty());
    assert!(
        t.problems
            .iter()
            .any(|p| p.contains("/proc/self/mountinfo"))
    );
    assert!(t.problems.iter().any(|p| p.contains("osrelease")));
    assert_eq!(verdict(&sc, "6.1").0, "safe");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capture_copies_what_was_read_and_reads_back_the_same() {
    for name in [
        "ext4-disk",
        "loop-xfs-on-ext4",
        "tcmu-zoned-xfs",
        "nbd-qemu",
        "nbd-remote",
        "crypt-md-root",
        "fuse-bindfs",
        "unknown-devices",
        "ublk-xfs",
    ] {
        let root = Root::new(fixture(name));
        let t = probe(&root);
        let dir = std::env::temp_dir().join(format!("rs-probe-cap-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        root.capture(&dir).unwrap();
        let again = probe(&Root::new(&dir));
        // A file that could not be read is not in the capture: the replay
        // reports the same path, as missing rather than with the error.
        let paths = |t: &Topology| -> Vec<String> {
            t.problems
                .iter()
                .map(|p| p.split(':').next().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(paths(&again), paths(&t), "{name}");
        let t = Topology {
            problems: vec![],
            ..t
        };
        let again = Topology {
            problems: vec![],
            ..again
        };
        assert_eq!(
            again, t,
            "{name}: a capture reads back to the same topology"
        );
        assert_eq!(
            write_scenario(&again, name, name).toml,
            write_scenario(&t, name, name).toml
        );
        // The process that is not a server (systemd, pid 1, in the tcmu
        // tree) is looked through but not copied.
        assert!(!dir.join("proc/1").exists(), "{name}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn ublk_server_with_pr_set_io_flusher_is_safe_and_without_deadlocks() {
    let (t, sc, toml) = probed("ublk-xfs");
    match &t.device("ublkb0").unwrap().kind {
        DevKind::Ublk { server: Some(p) } => {
            assert_eq!((p.pid, p.comm.as_str()), (2210, "ublk"));
            // 6.12: flags 0x580100 carry PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE.
            assert_eq!(p.io_flusher, Some(true));
            assert_eq!(p.files, ["/var/lib/ublk/disk0.img"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(toml.contains("io_flusher = true "));
    // PR_SET_IO_FLUSHER (v5.6) puts the server under PF_MEMALLOC_NOIO:
    // `current_gfp_context()` clears __GFP_IO|__GFP_FS from its page-cache
    // allocations, so `super_cache_scan` returns SHRINK_STOP and reclaim
    // cannot wait on the XFS inode only this server would write. Without
    // it, the same recursion as the tcmu stack -- while XFS's
    // `xfs_reclaim_inode` still writes a dirty inode's cluster and waits,
    // i.e. on 5.6 .. 5.8, the releases with the prctl and before
    // 617825fe3489 (v5.9). From v5.9 the shrinker skips dirty inodes, so
    // the server is safe with or without the flag. On 4.19 and 5.4 the
    // prctl fails with -EINVAL, which is `--kernel`'s history to apply,
    // not the probe's.
    let without = |k: &str| {
        let mut off = sc.clone();
        off.apply_overrides(None, &["ublkb0.io_flusher=false".into()])
            .unwrap();
        verdict(&off, k).0
    };
    for k in ["5.6", "5.8"] {
        assert_eq!(verdict(&sc, k).0, "safe", "kernel {k}");
        assert_eq!(without(k), "deadlock", "kernel {k}, no io_flusher");
    }
    for k in ["5.10", "6.1", "6.12"] {
        assert_eq!(verdict(&sc, k).0, "safe", "kernel {k}");
        assert_eq!(without(k), "safe", "kernel {k}, no io_flusher");
    }
}

#[test]
fn io_flusher_is_unknown_where_the_flag_values_were_not_read() {
    // The same server on a 4.19 kernel: PF_ values of 4.19 were not read
    // (and the prctl does not exist there), so the probe says unknown and
    // the scenario assumes it is not set.
    let dir = std::env::temp_dir().join(format!("rs-probe-old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let src = Root::new(fixture("ublk-xfs"));
    probe(&src);
    src.capture(&dir).unwrap();
    std::fs::write(dir.join("proc/sys/kernel/osrelease"), "4.19.0-27-amd64\n").unwrap();
    let t = probe(&Root::new(&dir));
    match &t.device("ublkb0").unwrap().kind {
        DevKind::Ublk { server: Some(p) } => assert_eq!(p.io_flusher, None),
        other => panic!("{other:?}"),
    }
    let w = write_scenario(&t, "old", "old");
    assert!(w.toml.contains("io_flusher = false "));
    assert!(w.toml.contains("PR_SET_IO_FLUSHER unknown"));
    std::fs::remove_dir_all(&dir).unwrap();
}
