//! Whatever `/proc/self/mountinfo`, `/proc/swaps` and a device's sysfs
//! files hold, the probe reports and carries on: no panic, and the written
//! scenario loads.

use proptest::prelude::*;
use reclaimscope_probe::{Root, probe, write_scenario};
use reclaimscope_sim::Scenario;
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

fn tree(files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rs-probe-garbage-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    for (p, t) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, t).unwrap();
    }
    dir
}

/// Lines that look like mountinfo, with any device numbers, types, names
/// (spaces, escapes, unicode) and any number of fields.
fn mount_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just(0u32),
            Just(7),
            Just(8),
            Just(9),
            Just(43),
            Just(254),
            0u32..300
        ],
        0u32..2,
        prop_oneof![
            Just("/".to_string()),
            Just("/mnt".to_string()),
            "[ -~]{0,12}"
        ],
        prop_oneof![
            Just("ext4"),
            Just("xfs"),
            Just("fuse.x"),
            Just("tmpfs"),
            Just("btrfs")
        ],
        "[/a-z\\\\0-9 é]{0,12}",
        any::<bool>(),
    )
        .prop_map(|(maj, min, mp, ty, src, sep)| {
            format!(
                "1 2 {maj}:{min} / {mp} rw {} {ty} {src} rw",
                if sep { "-" } else { "shared:1" }
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_mounts_and_device_files_never_break_the_probe(
        lines in prop::collection::vec(mount_line(), 0..12),
        swaps in "[ -~\n]{0,80}",
        dev in prop_oneof![Just("7:0\n".to_string()), "[ -~]{0,10}"],
        backing in prop_oneof![Just("/mnt/img\n".to_string()), "[ -~]{0,20}"],
        level in "[ -~]{0,8}",
        uuid in prop_oneof![Just("CRYPT-x".to_string()), "[ -~]{0,10}"],
        zoned in prop_oneof![Just("host-managed".to_string()), "[ -~]{0,10}"],
        pid in prop_oneof![Just("77".to_string()), "[ -~]{0,6}"],
        uio in prop_oneof![Just("tcm-user/1/d/file//mnt/t.img".to_string()), "[ -~]{0,30}"],
        stat in "[ -~]{0,60}",
    ) {
        let mountinfo = lines.join("\n");
        let dir = tree(&[
            ("proc/self/mountinfo", &mountinfo),
            ("proc/swaps", &swaps),
            ("proc/sys/kernel/osrelease", "6.1.0\n"),
            ("sys/class/block/loop0/dev", &dev),
            ("sys/class/block/loop0/loop/backing_file", &backing),
            ("sys/class/block/md0/dev", "9:0\n"),
            ("sys/class/block/md0/slaves/loop0", ""),
            ("sys/class/block/md0/md/level", &level),
            ("sys/class/block/sda/dev", "8:0\n"),
            ("sys/class/block/sda/queue/zoned", &zoned),
            ("sys/class/block/sda/device/vendor", "LIO-ORG\n"),
            ("sys/class/block/dm-0/dev", "254:0\n"),
            ("sys/class/block/dm-0/dm/name", &level),
            ("sys/class/block/dm-0/dm/uuid", &uuid),
            ("sys/class/block/dm-0/slaves/sda", ""),
            ("sys/class/block/nbd0/dev", "43:0\n"),
            ("sys/class/block/nbd0/pid", &pid),
            ("sys/class/uio/uio0/name", &uio),
            ("proc/77/comm", &level),
            ("proc/77/stat", &stat),
        ]);
        #[cfg(unix)]
        {
            let fd = dir.join("proc/77/fd");
            std::fs::create_dir_all(&fd).unwrap();
            let target = if backing.is_empty() { "x" } else { backing.as_str() };
            std::os::unix::fs::symlink(target, fd.join("3")).unwrap();
            std::os::unix::fs::symlink("/dev/uio0", fd.join("4")).unwrap();
        }
        let t = probe(&Root::new(&dir));
        let w = write_scenario(&t, "g", "g");
        let loaded = Scenario::from_toml_str(&w.toml, "g");
        prop_assert!(loaded.is_ok(), "{:?}\n{}", loaded.err(), w.toml);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
