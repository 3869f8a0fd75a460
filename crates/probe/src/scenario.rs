//! The one place a probed [`Topology`] becomes scenario TOML
//! (docs/scenarios.md): devices, filesystems, memory, and the standard
//! workload, each commented with where it came from and what was assumed.

use crate::toml::{Doc, Table};
use crate::topology::{BlockDev, DevKind, DmTarget, Process, Source, Topology};
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
    /// `X.Y` of the probed kernel, for `check --kernel` (the scenario
    /// format has no key for it, so the file says it in a comment).
    pub kernel: Option<String>,
    /// Not modelled / assumed, and unreadable files (also in the file's
    /// header comment).
    pub notes: Vec<String>,
}

/// A device as the scenario has it: its name and how many loop/daemon
/// hops lie under it (a filesystem on it is that much deeper).
#[derive(Clone, Debug)]
struct Modelled {
    name: String,
    depth: u8,
}

struct Builder<'a> {
    t: &'a Topology,
    /// Scenario name of each topology filesystem that is kept.
    fs_names: Vec<Option<String>>,
    /// Device tables in creation order (lower devices first).
    devs: Vec<(String, Table, u8)>,
    /// Filesystems some loop or daemon writes its backing file on.
    backing: Vec<usize>,
    notes: Vec<String>,
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn proc_label(p: &Process) -> String {
    format!("{} (pid {})", p.comm, p.pid)
}

impl<'a> Builder<'a> {
    fn fs_name(&self, i: usize) -> Option<&str> {
        self.fs_names.get(i).and_then(|n| n.as_deref())
    }

    /// `FS:PATH` for a file, if it lives on a kept filesystem.
    fn file_on_fs(&mut self, path: &str) -> Option<String> {
        let (i, inner) = self.t.fs_of_path(path)?;
        let name = self.fs_name(i)?.to_string();
        if !self.backing.contains(&i) {
            self.backing.push(i);
        }
        Some(format!("{name}:{inner}"))
    }

    fn existing(&self, name: &str) -> Option<Modelled> {
        self.devs
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(n, _, d)| Modelled {
                name: n.clone(),
                depth: *d,
            })
    }

    fn add(&mut self, name: &str, table: Table, depth: u8) -> Modelled {
        self.devs.push((name.to_string(), table, depth));
        Modelled {
            name: name.to_string(),
            depth,
        }
    }

    fn disk(&mut self, name: &str, comment: String) -> Modelled {
        let mut t = Table::array("disk");
        t.comment(comment);
        t.set("name", name);
        self.add(name, t, 0)
    }

    /// An unmodelled device: a disk, said so.
    fn assumed_disk(&mut self, name: &str, what: &str) -> Modelled {
        let text = format!(
            "{name}: not modelled: {what}; assumed a disk (completes bios without this \
             machine's page cache or reclaim)"
        );
        self.notes.push(text.clone());
        self.disk(name, text)
    }

    /// The device a bio to `name` is served by, created (with what it sits
    /// on) the first time it is met.
    fn device(&mut self, name: &str, seen: &mut Vec<String>) -> Modelled {
        let mname = sanitize(name);
        if let Some(m) = self.existing(&mname) {
            return m;
        }
        if seen.iter().any(|s| s == name) {
            return self.assumed_disk(&mname, "it sits on itself through slaves/ (a cycle)");
        }
        seen.push(name.to_string());
        let Some(dev) = self.t.device(name).cloned() else {
            return self.assumed_disk(&mname, "not found in /sys/class/block");
        };
        let m = self.device_of(&mname, &dev, seen);
        seen.pop();
        m
    }

    /// Forwarding devices (dm, md, a partition of a stacked disk) take the
    /// deepest of what they sit on: a bio may go to any of them, and the
    /// deepest is the one a recursion can come back through.
    fn forward(
        &mut self,
        mname: &str,
        lower: &[String],
        label: String,
        target: &str,
        seen: &mut Vec<String>,
    ) -> Modelled {
        // The first of the deepest (by the topology, before anything is
        // modelled, so the others add no device to the scenario).
        let depths: Vec<u8> = lower.iter().map(|l| topo_depth(self.t, l, 0)).collect();
        let Some(&deepest) = depths.iter().max() else {
            return self.assumed_disk(mname, &format!("{label} with nothing in slaves/"));
        };
        let at = depths.iter().position(|&d| d == deepest).unwrap_or(0);
        let pick = self.device(&lower[at], seen);
        let mut t = Table::array("dm");
        t.comment(label);
        if lower.len() > 1 {
            let others: Vec<&str> = lower
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != at)
                .map(|(_, l)| l.as_str())
                .collect();
            t.comment(format!(
                "also on {}: the model forwards to one device, the deepest",
                others.join(", ")
            ));
        }
        t.set("name", mname)
            .set("target", target)
            .set("lower", pick.name.as_str());
        self.add(mname, t, pick.depth)
    }

    fn daemon(
        &mut self,
        mname: &str,
        kind: &str,
        server: &Process,
        file: &str,
        what: String,
    ) -> Modelled {
        let fs_depth = self.fs_depth_of_file(file);
        let mut t = Table::array("daemon");
        t.comment(what);
        t.set("name", mname)
            .set("kind", kind)
            .set("process", server.comm.as_str())
            .set("file", file)
            .set_c(
                "queue_depth",
                1u16,
                "one handler thread: the worst case (`--set NAME.queue_depth=N`)",
            );
        match server.io_flusher {
            Some(b) => t.set_c("io_flusher", b, "PR_SET_IO_FLUSHER, from the flags in /proc/PID/stat"),
            None => t.set_c(
                "io_flusher",
                false,
                "PR_SET_IO_FLUSHER unknown (not visible for this kernel or process): assumed not set",
            ),
        };
        self.add(mname, t, fs_depth + 1)
    }

    /// Depth of the filesystem a `FS:PATH` file is on.
    fn fs_depth_of_file(&self, file: &str) -> u8 {
        let fsname = file.split_once(':').map_or(file, |(f, _)| f);
        let Some(i) = self
            .fs_names
            .iter()
            .position(|n| n.as_deref() == Some(fsname))
        else {
            return 0;
        };
        match &self.t.filesystems[i].backing {
            Some(Source::Block(d)) => self.existing(&sanitize(d)).map_or(0, |m| m.depth),
            Some(Source::Fuse { conn, .. }) => {
                self.existing(&format!("fuse{conn}")).map_or(0, |m| m.depth)
            }
            None => 0,
        }
    }

    /// A serving process's backing file on a kept filesystem: the first
    /// regular file it holds open there.
    fn server_file(&mut self, p: &Process) -> Option<String> {
        let f = p.files.iter().find_map(|f| self.file_on_fs_peek(f))?;
        self.server_file_named(&f);
        Some(f)
    }

    fn file_on_fs_peek(&self, path: &str) -> Option<String> {
        let (i, inner) = self.t.fs_of_path(path)?;
        Some(format!("{}:{inner}", self.fs_name(i)?))
    }

    fn device_of(&mut self, mname: &str, dev: &BlockDev, seen: &mut Vec<String>) -> Modelled {
        let name = dev.name.as_str();
        match &dev.kind {
            DevKind::Disk => {
                let z = match dev.zoned.as_deref() {
                    Some(z) if z != "none" => format!(", zoned {z}"),
                    _ => String::new(),
                };
                self.disk(mname, format!("{name}: a disk{z}"))
            }
            DevKind::Partition { parent } => match self.t.device(parent).map(|d| &d.kind) {
                Some(DevKind::Disk) | None => {
                    self.disk(mname, format!("{name}: a partition of {parent}"))
                }
                Some(DevKind::Unknown { what }) => {
                    let what = format!("a partition of {parent}, {what}");
                    self.assumed_disk(mname, &what)
                }
                Some(_) => self.forward(
                    mname,
                    std::slice::from_ref(parent),
                    format!("{name}: a partition of {parent}; forwards bios to it"),
                    "linear",
                    seen,
                ),
            },
            DevKind::Loop { backing } => {
                let Some(path) = backing else {
                    return self.assumed_disk(mname, "a loop device with no backing file");
                };
                let Some(file) = self.file_on_fs(path) else {
                    return self.assumed_disk(
                        mname,
                        &format!("a loop device over {path}, which is on no modelled filesystem"),
                    );
                };
                let depth = self.fs_depth_of_file(&file) + 1;
                let mut t = Table::array("loop");
                t.comment(format!(
                    "{name}: a loop device over {path} (loop/backing_file)"
                ));
                t.set("name", mname).set("file", file.as_str()).set_c(
                    "noio",
                    false,
                    "the worker's context before v5.3; --kernel sets it (d0a255e795ab: NOIO from v5.3)",
                );
                self.add(mname, t, depth)
            }
            DevKind::Dm {
                name: dm_name,
                uuid,
                target,
            } => {
                let uuid_note = if uuid.is_empty() {
                    String::new()
                } else {
                    format!(", uuid {}", uuid.split('-').next().unwrap_or(""))
                };
                let label = format!("{name}: {} `{dm_name}`{uuid_note}", target.label());
                let model_target = match target {
                    DmTarget::Zoned => "zoned",
                    _ => "linear",
                };
                match target {
                    DmTarget::Crypt => {
                        let l = format!(
                            "{label}; encrypts into pages from its own mempool (GFP_NOIO, \
                             crypt_alloc_buffer): modelled as a forwarding target"
                        );
                        self.forward(mname, &dev.lower, l, model_target, seen)
                    }
                    DmTarget::Unknown | DmTarget::Lvm | DmTarget::Multipath => {
                        if matches!(target, DmTarget::Unknown) {
                            self.notes.push(format!(
                                "{name}: dm target not shown in sysfs (name `{dm_name}`); assumed it forwards bios like dm-linear"
                            ));
                        }
                        self.forward(mname, &dev.lower, label, model_target, seen)
                    }
                    DmTarget::Zoned => self.forward(mname, &dev.lower, label, model_target, seen),
                }
            }
            DevKind::Md { level } => {
                let known = ["raid1", "raid0", "raid10", "linear"].contains(&level.as_str());
                if !known {
                    self.notes.push(format!(
                        "{name}: md {level} is not modelled (stripe cache, parity); assumed it forwards bios to one member"
                    ));
                }
                let label =
                    format!("{name}: md {level}; forwards bios to its members (md/level, slaves/)");
                self.forward(mname, &dev.lower, label, "linear", seen)
            }
            DevKind::Nbd { server } => match server {
                None => self.assumed_disk(mname, "an NBD device with no pid (not connected)"),
                Some(p) => match self.server_file(p) {
                    Some(file) => {
                        let what = format!(
                            "{name}: NBD served by {}, which holds {file} open",
                            proc_label(p)
                        );
                        self.daemon(mname, "nbd", p, &file, what)
                    }
                    None => {
                        let text = format!(
                            "{name}: NBD connected by {} with no file open on a modelled filesystem: \
                             the server is elsewhere; the kernel sends requests under \
                             memalloc_noreclaim_save() (sock_xmit, drivers/block/nbd.c); modelled as a disk",
                            proc_label(p)
                        );
                        self.notes.push(text.clone());
                        self.disk(mname, text)
                    }
                },
            },
            DevKind::Ublk { server } | DevKind::Tcmu { server, .. } => {
                let (kind, node) = match &dev.kind {
                    DevKind::Tcmu { uio, .. } => ("tcmu", format!("/dev/{uio}")),
                    _ => (
                        "ublk",
                        format!("/dev/ublkc{}", name.trim_start_matches("ublkb")),
                    ),
                };
                let cfg_file = match &dev.kind {
                    DevKind::Tcmu { file: Some(f), .. } => self.file_on_fs_peek(f),
                    _ => None,
                };
                let Some(p) = server else {
                    return self.assumed_disk(
                        mname,
                        &format!("{kind} device: no process found holding {node}"),
                    );
                };
                let file = match cfg_file {
                    Some(f) => {
                        self.server_file_named(&f);
                        Some(f)
                    }
                    None => self.server_file(p),
                };
                let Some(file) = file else {
                    return self.assumed_disk(
                        mname,
                        &format!(
                            "{kind} device served by {} with no backing file on a modelled filesystem",
                            proc_label(p)
                        ),
                    );
                };
                let what = match &dev.kind {
                    DevKind::Tcmu { uio, config, .. } => format!(
                        "{name}: a SCSI disk from LIO, tcmu backstore on {uio} (config `{config}`), served by {}",
                        proc_label(p)
                    ),
                    _ => format!("{name}: ublk, served by {} holding {node}", proc_label(p)),
                };
                self.daemon(mname, kind, p, &file, what)
            }
            DevKind::Unknown { what } => self.assumed_disk(mname, what),
        }
    }

    /// Mark the filesystem of an `FS:PATH` as backing a device.
    fn server_file_named(&mut self, file: &str) {
        let fsname = file.split_once(':').map_or("", |(n, _)| n);
        if let Some(i) = self
            .fs_names
            .iter()
            .position(|n| n.as_deref() == Some(fsname))
            && !self.backing.contains(&i)
        {
            self.backing.push(i);
        }
    }
}

/// How many loop or daemon hops lie under device `name`, from the
/// topology alone: a device over a file on filesystem Y is one deeper than
/// Y's device; forwarding devices take their deepest lower device.
fn topo_depth(t: &Topology, name: &str, guard: usize) -> u8 {
    if guard > t.devices.len() + t.filesystems.len() {
        return 0;
    }
    let fs_depth = |path: &str| -> u8 {
        match t.fs_of_path(path).map(|(i, _)| &t.filesystems[i].backing) {
            Some(Some(Source::Block(d))) => topo_depth(t, d, guard + 1),
            Some(Some(Source::Fuse { .. })) => 1,
            _ => 0,
        }
    };
    let served = |p: &Option<Process>| {
        p.as_ref()
            .and_then(|p| p.files.first())
            .map_or(0, |f| fs_depth(f).saturating_add(1))
    };
    let Some(d) = t.device(name) else { return 0 };
    match &d.kind {
        DevKind::Disk | DevKind::Unknown { .. } => 0,
        DevKind::Partition { parent } => topo_depth(t, parent, guard + 1),
        DevKind::Loop { backing } => backing
            .as_deref()
            .map_or(0, |b| fs_depth(b).saturating_add(1)),
        DevKind::Dm { .. } | DevKind::Md { .. } => d
            .lower
            .iter()
            .map(|l| topo_depth(t, l, guard + 1))
            .max()
            .unwrap_or(0),
        DevKind::Nbd { server } | DevKind::Ublk { server } => served(server),
        DevKind::Tcmu { file, server, .. } => match file {
            Some(f) => fs_depth(f).saturating_add(1),
            None => served(server),
        },
    }
}

/// Filesystems whose device is more than a disk (a loop, daemon, dm or md
/// device, a partition of one, or FUSE).
fn stacked(t: &Topology, i: usize) -> bool {
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
fn served_paths(t: &Topology) -> Vec<String> {
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

/// Write `t` as a scenario named `name`; `from` says what was probed
/// (`/`, or the captured tree's path) in the header.
pub fn write_scenario(t: &Topology, name: &str, from: &str) -> Written {
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
        if k >= MAX_FS {
            notes.push(format!(
                "{} on {}: not modelled (the model holds at most {MAX_FS} filesystems; \
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
                let Some(p) = daemon else {
                    b.notes.push(format!(
                        "{} on {}: FUSE, but no process holding /dev/fuse was found; not modelled",
                        f.fstype, f.mount_points[0]
                    ));
                    b.fs_names[i] = None;
                    continue;
                };
                let own = |s: &str| s.starts_with(&format!("{fsname}:"));
                let own_file = p
                    .files
                    .iter()
                    .filter_map(|f| b.file_on_fs_peek(f))
                    .find(|f| !own(f));
                let file = own_file.or_else(|| {
                    let cwd = p.cwd.as_deref()?;
                    let f = b.file_on_fs_peek(cwd).filter(|f| !own(f))?;
                    b.notes.push(format!(
                        "{fsname}: FUSE daemon {} has no file open on a modelled \
                             filesystem; assumed it writes where its cwd is ({f})",
                        proc_label(p)
                    ));
                    Some(f)
                });
                let Some(file) = file else {
                    b.notes.push(format!(
                        "{} on {}: FUSE daemon {} writes nowhere this probe can see; not modelled",
                        f.fstype,
                        f.mount_points[0],
                        proc_label(p)
                    ));
                    b.fs_names[i] = None;
                    continue;
                };
                b.server_file_named(&file);
                let what = format!(
                    "{} on {}: FUSE connection {conn}, served by {}",
                    f.fstype,
                    f.mount_points[0],
                    proc_label(p)
                );
                fs_dev[i] = Some(b.daemon(&format!("fuse{conn}"), "fuse", p, &file, what));
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
             `reclaimscope check --system` applies --kernel {v}; with this file pass --kernel {v}."
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
                         (extents mapped at swapon, iomap_swapfile_activate)",
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
    let mut stack_lines = Vec::new();
    let mut fs_tables = Vec::new();
    let mut locks = Vec::new();
    let mut tasks: Vec<Table> = Vec::new();
    let mut workload = Vec::new();
    let kept: Vec<usize> = (0..n).filter(|&i| b.fs_name(i).is_some()).collect();
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
    for &i in &kept {
        let f = &t.filesystems[i];
        let fsname = b.fs_name(i).unwrap_or_default().to_string();
        let dev = fs_dev[i].clone().map_or_else(String::new, |m| m.name);
        stack_lines.push(format!(
            "{fsname}: {} on {} from {}",
            f.fstype,
            f.mount_points.join(", "),
            chain(&b, &dev)
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
                     temporary page and ends at once (fuse_writepage_locked, fs/fuse/file.c, \
                     to 6.13)",
                );
            } else {
                ft.set_c(
                    "dirty_inodes",
                    1u16,
                    "of those, one whose reclaim writes to the device and waits",
                );
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
    Written {
        toml: doc.to_string(),
        kernel: kernel.map(|v| v.to_string()),
        notes: all_notes,
    }
}

fn indent(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("  - {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `dm-0 -> md0 -> sda1`, ending with the file a loop or daemon serves.
fn chain(b: &Builder<'_>, dev: &str) -> String {
    let mut out = Vec::new();
    let mut cur = dev.to_string();
    for _ in 0..=b.devs.len() {
        let Some((_, table, _)) = b.devs.iter().find(|(n, _, _)| *n == cur) else {
            break;
        };
        match (table.get_str("lower"), table.get_str("file")) {
            (Some(l), _) => {
                out.push(cur.clone());
                cur = l.to_string();
            }
            (None, Some(f)) => {
                out.push(format!("{cur} (file {f})"));
                break;
            }
            (None, None) => {
                out.push(cur.clone());
                break;
            }
        }
    }
    out.join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{BlockDev, Filesystem};

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
