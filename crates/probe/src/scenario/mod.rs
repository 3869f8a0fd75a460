//! The one place a probed [`Topology`] becomes scenario TOML
//! (docs/scenarios.md): devices, filesystems, memory, and the standard
//! workload, each commented with where it came from and what was assumed.

use crate::toml::{Doc, Table};
use crate::topology::{Source, Topology};
use reclaimscope_model::history::KernelVersion;

/// Scenario limits the writer stays inside (crates/sim `MAX_FS`, and room
/// for the built-in tasks under `MAX_TASKS`).
const MAX_FS: usize = 8;
const MAX_WORKLOAD_TASKS: usize = 6;
/// The model's min watermark, in pages; low and high keep the machine's ratios.
const MODEL_MIN: u64 = 4;
const MODEL_HIGH_CAP: u64 = 64;
/// Free pages above min at the start; a standard writer writes one page
/// more, so it enters direct reclaim itself.
const HEADROOM: u64 = 2;

/// A written scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub toml: String,
    /// The probed kernel's release as `uname -r` prints it, when `--kernel`
    /// understands it (the scenario format has no key for it, so the file
    /// says it in a comment and `check --system` passes it on).
    pub kernel: Option<String>,
    /// Not modelled / assumed, and unreadable files (also in the file's
    /// header comment).
    pub notes: Vec<String>,
}

mod devices;
mod workload;

use devices::{Builder, Modelled, chain, sanitize};
use workload::{Workload, served_paths, stacked, workload};

/// Scale the machine's summed zone watermarks so min is [`MODEL_MIN`]
/// pages, keeping low/min and high/min.
fn watermarks(t: &Topology, notes: &mut Vec<String>) -> (u64, u64, u64, String) {
    let m = &t.memory;
    if m.min == 0 || m.low < m.min || m.high < m.low {
        notes.push(
            "/proc/zoneinfo gave no usable watermarks; assumed min 4, low 5, high 6 pages".into(),
        );
        return (
            4,
            5,
            6,
            "zoneinfo unreadable: the shipped scenarios' 4/5/6".into(),
        );
    }
    let scale = |v: u64| (v * MODEL_MIN + m.min / 2) / m.min;
    let low = scale(m.low).max(MODEL_MIN);
    let mut high = scale(m.high).max(low);
    if high > MODEL_HIGH_CAP {
        notes.push(format!(
            "high watermark is {}x min; capped at {MODEL_HIGH_CAP} model pages",
            m.high / m.min
        ));
        high = MODEL_HIGH_CAP;
    }
    let why = format!(
        "/proc/zoneinfo, summed over zones: min {}, low {}, high {} pages; scaled so min = {MODEL_MIN}",
        m.min, m.low, m.high
    );
    (MODEL_MIN, low, high, why)
}

/// crates/sim's `MAX_DEVICES` and `MAX_TASKS` (workload tasks plus a loop
/// worker per loop, a thread per daemon, and the flusher).
const MAX_DEVICES: usize = 16;
const MAX_TASKS: usize = 16;

/// Write `t` as a scenario named `name`; `from` says what was probed
/// (`/`, or the captured tree's path) in the header. Keeps as many
/// filesystems as the model's device and task limits allow, so the result
/// always loads.
pub fn write_scenario(t: &Topology, name: &str, from: &str) -> Written {
    let mut max_fs = MAX_FS;
    loop {
        let (w, devices, tasks) = write_limited(t, name, from, max_fs);
        if (devices <= MAX_DEVICES && tasks <= MAX_TASKS) || max_fs == 0 {
            return w;
        }
        max_fs -= 1;
    }
}

/// The scenario with at most `max_fs` filesystems, its device count and
/// its task count (workload and built-in).
fn write_limited(t: &Topology, name: &str, from: &str, max_fs: usize) -> (Written, usize, usize) {
    let mut notes: Vec<String> = t.notes.clone();
    let n = t.filesystems.len();
    // Which filesystems to keep: those backing a device, those on stacked
    // devices, then `/`, then the rest, up to the model's limit.
    let served = served_paths(t);
    let backs: Vec<bool> = (0..n)
        .map(|i| {
            served
                .iter()
                .any(|p| t.fs_of_path(p).is_some_and(|(j, _)| j == i))
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| {
        let f = &t.filesystems[i];
        (
            !backs[i],
            !stacked(t, i),
            !f.mount_points.iter().any(|m| m == "/"),
            i,
        )
    });
    let mut fs_names: Vec<Option<String>> = vec![None; n];
    let mut used: Vec<String> = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let f = &t.filesystems[i];
        if k >= max_fs {
            notes.push(format!(
                "{} on {}: not modelled (the model holds at most {MAX_FS} filesystems, \
                 {MAX_DEVICES} devices and {MAX_TASKS} tasks: here {max_fs} filesystems; \
                 those in a stack come first)",
                f.fstype, f.mount_points[0]
            ));
            continue;
        }
        let dev = match &f.backing {
            Some(Source::Block(d)) => d.clone(),
            Some(Source::Fuse { conn, .. }) => format!("{conn}"),
            None => continue,
        };
        let mut nm = sanitize(&format!("{}-{dev}", f.fstype));
        let base = nm.clone();
        let mut k2 = 2;
        while used.contains(&nm) {
            nm = format!("{base}-{k2}");
            k2 += 1;
        }
        used.push(nm.clone());
        fs_names[i] = Some(nm);
    }
    let mut b = Builder {
        t,
        fs_names,
        devs: Vec::new(),
        backing: Vec::new(),
        notes: Vec::new(),
    };
    // FUSE filesystems with no daemon, or a daemon writing nowhere this
    // probe can see, are dropped before any device refers to them; again
    // until nothing changes (a daemon may write on another FUSE mount).
    loop {
        let mut changed = false;
        for (i, f) in t.filesystems.iter().enumerate() {
            let Some(fsname) = b.fs_name(i).map(str::to_string) else {
                continue;
            };
            let Some(Source::Fuse { daemon, .. }) = &f.backing else {
                continue;
            };
            let why = match daemon {
                None => "no process holding /dev/fuse was found".to_string(),
                Some(p) if b.fuse_file(&fsname, p).is_none() => format!(
                    "its daemon {} (pid {}) writes nowhere this probe can see",
                    p.comm, p.pid
                ),
                Some(_) => continue,
            };
            notes.push(format!(
                "{} on {}: FUSE, but {why}; not modelled",
                f.fstype, f.mount_points[0]
            ));
            b.fs_names[i] = None;
            changed = true;
        }
        if !changed {
            break;
        }
    }
    // Devices under each kept filesystem.
    let mut fs_dev: Vec<Option<Modelled>> = vec![None; n];
    #[allow(clippy::needless_range_loop)] // `b` is borrowed mutably inside
    for i in 0..n {
        let Some(fsname) = b.fs_name(i).map(str::to_string) else {
            continue;
        };
        let f = &t.filesystems[i];
        match &f.backing {
            Some(Source::Block(d)) => fs_dev[i] = Some(b.device(d, &mut Vec::new())),
            Some(Source::Fuse { conn, daemon }) => {
                fs_dev[i] = b.fuse_device(i, &fsname, *conn, daemon.as_ref());
                if fs_dev[i].is_none() {
                    b.fs_names[i] = None;
                }
            }
            None => {}
        }
    }
    notes.append(&mut b.notes);

    let mut doc = Doc::default();
    doc.comment(format!(
        "Written by `reclaimscope probe` from /proc and /sys under {from}.\n\
         Edit freely: docs/scenarios.md describes every key, docs/probe.md what is read."
    ));
    let kernel = t
        .kernel
        .as_deref()
        .and_then(|k| KernelVersion::parse(k).ok());
    match (&t.kernel, kernel) {
        (Some(k), Some(v)) => doc.comment(format!(
            "\nKernel: {k} (/proc/sys/kernel/osrelease). Scenario files have no key for it:\n\
             `reclaimscope check --system` applies it; with this file pass --kernel {k}\n\
             (history is applied by release {v})."
        )),
        (Some(k), None) => doc.comment(format!(
            "\nKernel: {k} (/proc/sys/kernel/osrelease): not a version --kernel understands."
        )),
        _ => doc.comment("\nKernel: unknown (/proc/sys/kernel/osrelease unreadable)."),
    }

    // Memory.
    let (min, low, high, why) = watermarks(t, &mut notes);
    let mut mem = Table::single("memory");
    mem.comment(why);
    mem.set_c(
        "free",
        (min + HEADROOM) as u16,
        "min + 2: a machine just above min, where the next allocations reclaim",
    )
    .set("min", min as u16)
    .set("low", low as u16)
    .set("high", high as u16)
    .set_c(
        "batch",
        2u16,
        "pages one reclaim pass frees from one source",
    );
    mem.set_c(
        "kswapd",
        false,
        "left out to keep the search small; `--set memory.kswapd=true` adds it",
    );
    // Swap: the first usable entry of /proc/swaps.
    let mut swap_dev: Option<(String, String)> = None;
    for s in &t.swaps {
        let found = if s.kind == "partition" {
            s.device.as_ref().map(|d| b.device(d, &mut Vec::new()).name)
        } else {
            t.fs_of_path(&s.path).and_then(|(i, _)| {
                b.fs_name(i)?;
                fs_dev[i].as_ref().map(|m| m.name.clone())
            })
        };
        match (found, &swap_dev) {
            (Some(d), None) => {
                let how = if s.kind == "partition" {
                    format!("swap partition {}", s.path)
                } else {
                    format!(
                        "swap file {}: its bios go to the device under its filesystem \
                         (extents mapped at swapon: iomap_swapfile_activate, generic_swapfile_activate before it)",
                        s.path
                    )
                };
                swap_dev = Some((d, how));
            }
            (Some(_), Some(_)) => notes.push(format!(
                "swap {}: the model has one swap device; only the first is modelled",
                s.path
            )),
            (None, _) => notes.push(format!(
                "swap {} ({}): on no modelled device; not modelled",
                s.path, s.kind
            )),
        }
    }
    notes.append(&mut b.notes);
    if let Some((d, how)) = &swap_dev {
        let anon = t
            .memory
            .anon_kb
            .map_or(String::new(), |a| format!(" (AnonPages {a} kB)"));
        mem.set_c(
            "anon",
            2u16,
            format!("anonymous memory that may be swapped out{anon}"),
        )
        .set_c("swap", d.as_str(), how.as_str())
        .set("swap_pages", 2u16);
    }
    doc.set("name", name);

    // Filesystem tables, the workload, and the stack summary.
    let kept: Vec<usize> = (0..n).filter(|&i| b.fs_name(i).is_some()).collect();
    let Workload {
        mut stack_lines,
        fs_tables,
        locks,
        tasks,
        names: workload,
    } = workload(t, &b, &kept, &fs_dev, &mut notes);
    if !t.other_mounts.is_empty() {
        let mut types: Vec<String> = Vec::new();
        for o in &t.other_mounts {
            if !types.contains(&o.fstype) {
                types.push(o.fstype.clone());
            }
        }
        stack_lines.push(format!(
            "not modelled (no block device behind them): {} mounts of {}",
            t.other_mounts.len(),
            types.join(", ")
        ));
    }
    if !t.idle_devices.is_empty() {
        stack_lines.push(format!(
            "block devices no mount or swap uses: {}",
            t.idle_devices.join(", ")
        ));
    }
    let description = {
        let parts: Vec<String> = kept
            .iter()
            .map(|&i| {
                let f = &t.filesystems[i];
                let dev = fs_dev[i].clone().map_or_else(String::new, |m| m.name);
                format!("{} on {}", f.fstype, chain(&b, &dev))
            })
            .collect();
        if parts.is_empty() {
            "no filesystem on a block device".to_string()
        } else {
            parts.join("; ")
        }
    };
    doc.set("description", description);
    doc.comment(format!("\nStack:\n{}", indent(&stack_lines)));
    doc.comment(format!(
        "\nWorkload: a probe cannot see one, so the standard one is added: a writer\n\
         dirtying every filesystem on a stacked device, and a task in a NOFS section on\n\
         every filesystem that backs another device.{}",
        if workload.is_empty() {
            " Here: none.".to_string()
        } else {
            format!(" Here: {}.", workload.join(", "))
        }
    ));
    if !notes.is_empty() {
        doc.comment(format!(
            "\nNot modelled, and what was assumed:\n{}",
            indent(&notes)
        ));
    }
    if !t.problems.is_empty() {
        doc.comment(format!(
            "\nCould not read (the probe carried on without):\n{}",
            indent(&t.problems)
        ));
    }
    doc.push(mem);
    for (_, table, _) in &b.devs {
        doc.push(table.clone());
    }
    for ft in fs_tables {
        doc.push(ft);
    }
    for l in &locks {
        let mut lt = Table::array("lock");
        lt.set("name", l.as_str());
        doc.push(lt);
    }
    for tt in tasks {
        doc.push(tt);
    }
    let mut all_notes = notes;
    all_notes.extend(t.problems.iter().map(|p| format!("unreadable: {p}")));
    let servers = b
        .devs
        .iter()
        .filter(|(_, t, _)| t.is_array_of("loop") || t.is_array_of("daemon"))
        .count();
    let task_count = workload.len() + servers + 1;
    let written = Written {
        toml: doc.to_string(),
        kernel: kernel.and(t.kernel.clone()),
        notes: all_notes,
    };
    (written, b.devs.len(), task_count)
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::devices::topo_depth;
    use super::*;
    use crate::topology::{BlockDev, DevKind, DmTarget, Filesystem};

    fn fs(fstype: &str, dev: &str, mp: &str) -> Filesystem {
        Filesystem {
            fstype: fstype.into(),
            source: format!("/dev/{dev}"),
            major: 8,
            minor: 1,
            mount_points: vec![mp.into()],
            mount_root: "/".into(),
            backing: Some(Source::Block(dev.into())),
        }
    }

    fn dev(name: &str, kind: DevKind, lower: &[&str]) -> BlockDev {
        BlockDev {
            name: name.into(),
            kind,
            lower: lower.iter().map(|s| s.to_string()).collect(),
            zoned: None,
        }
    }

    /// A dm device over a disk and a loop device forwards, in the model, to
    /// the loop device: the one a reclaim recursion can come back through.
    /// The disk is named, and not added to the scenario.
    #[test]
    fn forwarding_devices_take_the_deepest_lower_device() {
        let t = Topology {
            filesystems: vec![fs("ext4", "sda1", "/"), fs("xfs", "dm-0", "/mnt")],
            devices: vec![
                dev("sda1", DevKind::Disk, &[]),
                dev(
                    "dm-0",
                    DevKind::Dm {
                        name: "vg-lv".into(),
                        uuid: "LVM-x".into(),
                        target: DmTarget::Lvm,
                    },
                    &["sdb", "loop0"],
                ),
                dev("sdb", DevKind::Disk, &[]),
                dev(
                    "loop0",
                    DevKind::Loop {
                        backing: Some("/img/x.raw".into()),
                    },
                    &[],
                ),
            ],
            ..Topology::default()
        };
        assert_eq!(topo_depth(&t, "dm-0", 0), 1);
        assert_eq!(topo_depth(&t, "sdb", 0), 0);
        let w = write_scenario(&t, "t", "t");
        assert!(w.toml.contains("lower = \"loop0\""), "{}", w.toml);
        assert!(w.toml.contains("# also on sdb:"), "{}", w.toml);
        assert!(!w.toml.contains("name = \"sdb\""), "{}", w.toml);
        assert!(w.toml.contains("file = \"ext4-sda1:/img/x.raw\""));
    }

    /// Eight filesystems, each on dm over dm over a disk, need 24 devices:
    /// the writer keeps the ones that fit (16 devices) and names the rest,
    /// so the scenario still loads.
    #[test]
    fn stays_inside_the_device_limit() {
        let mut t = Topology::default();
        for i in 0..8 {
            let (top, mid, disk) = (
                format!("dm-{i}"),
                format!("dm-{}", i + 10),
                format!("sd{i}"),
            );
            t.filesystems.push(fs("ext4", &top, &format!("/srv/{i}")));
            let dm = || DevKind::Dm {
                name: "x".into(),
                uuid: "LVM-x".into(),
                target: DmTarget::Lvm,
            };
            t.devices.push(dev(&top, dm(), &[&mid]));
            t.devices.push(dev(&mid, dm(), &[&disk]));
            t.devices.push(dev(&disk, DevKind::Disk, &[]));
        }
        let w = write_scenario(&t, "many", "many");
        let sc = reclaimscope_sim::Scenario::from_toml_str(&w.toml, "many")
            .unwrap_or_else(|e| panic!("{e:?}\n{}", w.toml));
        assert_eq!(sc.fss.len(), 5, "5 x 3 devices fit in 16");
        assert_eq!(
            w.notes
                .iter()
                .filter(|n| n.contains("not modelled (the model holds"))
                .count(),
            3
        );
    }

    /// The machine's watermark ratios are kept, min scaled to 4 pages.
    #[test]
    fn watermarks_keep_ratios() {
        let mut t = Topology::default();
        t.memory.min = 1000;
        t.memory.low = 3000;
        t.memory.high = 5000;
        let mut notes = Vec::new();
        let (min, low, high, _) = watermarks(&t, &mut notes);
        assert_eq!((min, low, high), (4, 12, 20));
        assert!(notes.is_empty());
        t.memory.high = 100_000;
        let (_, _, high, _) = watermarks(&t, &mut notes);
        assert_eq!(high, MODEL_HIGH_CAP);
        assert_eq!(notes.len(), 1);
    }
}
