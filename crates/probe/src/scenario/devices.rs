//! Devices as the scenario has them: each block device the probe found
//! becomes a `[[disk]]`, `[[loop]]`, `[[dm]]` or `[[daemon]]` table, with
//! what it sits on created first and a comment saying what it is.

use crate::toml::Table;
use crate::topology::{BlockDev, DevKind, DmTarget, Process, Source, Topology};

/// A device as the scenario has it: its name and how many loop/daemon
/// hops lie under it (a filesystem on it is that much deeper).
#[derive(Clone, Debug)]
pub(super) struct Modelled {
    pub name: String,
    pub depth: u8,
}

pub(super) struct Builder<'a> {
    pub t: &'a Topology,
    /// Scenario name of each topology filesystem that is kept.
    pub fs_names: Vec<Option<String>>,
    /// Device tables in creation order (lower devices first).
    pub devs: Vec<(String, Table, u8)>,
    /// Filesystems some loop or daemon writes its backing file on.
    pub backing: Vec<usize>,
    pub notes: Vec<String>,
}

pub(super) fn sanitize(s: &str) -> String {
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
    pub(super) fn fs_name(&self, i: usize) -> Option<&str> {
        self.fs_names.get(i).and_then(|n| n.as_deref())
    }

    /// `FS:PATH` for a file, if it lives on a kept filesystem.
    pub(super) fn file_on_fs(&mut self, path: &str) -> Option<String> {
        let (i, inner) = self.t.fs_of_path(path)?;
        let name = self.fs_name(i)?.to_string();
        if !self.backing.contains(&i) {
            self.backing.push(i);
        }
        Some(format!("{name}:{inner}"))
    }

    pub(super) fn existing(&self, name: &str) -> Option<Modelled> {
        self.devs
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(n, _, d)| Modelled {
                name: n.clone(),
                depth: *d,
            })
    }

    pub(super) fn add(&mut self, name: &str, table: Table, depth: u8) -> Modelled {
        self.devs.push((name.to_string(), table, depth));
        Modelled {
            name: name.to_string(),
            depth,
        }
    }

    pub(super) fn disk(&mut self, name: &str, comment: String) -> Modelled {
        let mut t = Table::array("disk");
        t.comment(comment);
        t.set("name", name);
        self.add(name, t, 0)
    }

    /// An unmodelled device: a disk, said so.
    pub(super) fn assumed_disk(&mut self, name: &str, what: &str) -> Modelled {
        let text = format!(
            "{name}: not modelled: {what}; assumed a disk (completes bios without this \
             machine's page cache or reclaim)"
        );
        self.notes.push(text.clone());
        self.disk(name, text)
    }

    /// The device a bio to `name` is served by, created (with what it sits
    /// on) the first time it is met.
    pub(super) fn device(&mut self, name: &str, seen: &mut Vec<String>) -> Modelled {
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
    pub(super) fn forward(
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
                "also on {}: the model forwards to one device, the deepest (first on a tie)",
                others.join(", ")
            ));
        }
        t.set("name", mname)
            .set("target", target)
            .set("lower", pick.name.as_str());
        self.add(mname, t, pick.depth)
    }

    pub(super) fn daemon(
        &mut self,
        mname: &str,
        kind: &str,
        server: &Process,
        file: &str,
        what: String,
    ) -> Modelled {
        if self.loops_back(mname, file) {
            return self.assumed_disk(
                mname,
                &format!("a {kind} device whose file {file} is on a filesystem stacked on it"),
            );
        }
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

    /// Whether the filesystem of an `FS:PATH` file sits, through any chain
    /// of devices and backing files, on device `mname` itself: a cycle no
    /// real machine has, but a damaged capture can describe.
    fn loops_back(&self, mname: &str, file: &str) -> bool {
        let Some(i) = self.fs_of_file(file) else {
            return false;
        };
        let mut todo: Vec<String> = match &self.t.filesystems[i].backing {
            Some(Source::Block(d)) => vec![d.clone()],
            _ => return false,
        };
        let mut seen: Vec<String> = Vec::new();
        while let Some(d) = todo.pop() {
            if sanitize(&d) == mname {
                return true;
            }
            if seen.contains(&d) {
                continue;
            }
            seen.push(d.clone());
            let Some(dev) = self.t.device(&d) else {
                continue;
            };
            todo.extend(dev.lower.iter().cloned());
            let mut via_file = |path: &str| {
                if let Some((j, _)) = self.t.fs_of_path(path)
                    && let Some(Source::Block(b)) = &self.t.filesystems[j].backing
                {
                    todo.push(b.clone());
                }
            };
            match &dev.kind {
                DevKind::Partition { parent } => todo.push(parent.clone()),
                DevKind::Loop { backing: Some(b) } => via_file(b),
                DevKind::Tcmu { file: Some(f), .. } => via_file(f),
                DevKind::Nbd { server: Some(p) }
                | DevKind::Ublk { server: Some(p) }
                | DevKind::Tcmu {
                    server: Some(p), ..
                } => {
                    for f in &p.files {
                        via_file(f);
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// Index of the filesystem an `FS:PATH` file is on, if it is known.
    fn fs_of_file(&self, file: &str) -> Option<usize> {
        let fsname = file.split_once(':').map_or(file, |(f, _)| f);
        self.fs_names
            .iter()
            .position(|n| n.as_deref() == Some(fsname))
    }

    /// Depth of the filesystem a `FS:PATH` file is on.
    pub(super) fn fs_depth_of_file(&self, file: &str) -> u8 {
        let Some(i) = self.fs_of_file(file) else {
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
    pub(super) fn server_file(&mut self, p: &Process) -> Option<String> {
        let f = p.files.iter().find_map(|f| self.file_on_fs_peek(f))?;
        self.server_file_named(&f);
        Some(f)
    }

    pub(super) fn file_on_fs_peek(&self, path: &str) -> Option<String> {
        let (i, inner) = self.t.fs_of_path(path)?;
        Some(format!("{}:{inner}", self.fs_name(i)?))
    }

    pub(super) fn device_of(
        &mut self,
        mname: &str,
        dev: &BlockDev,
        seen: &mut Vec<String>,
    ) -> Modelled {
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
                if self.loops_back(mname, &file) {
                    return self.assumed_disk(
                        mname,
                        &format!("a loop device over {path}, on a filesystem stacked on it"),
                    );
                }
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
                            "{label}; encrypts into GFP_NOWAIT pages, then its mempool without \
                             __GFP_IO or __GFP_FS (crypt_alloc_buffer): modelled as a forwarding target"
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
    pub(super) fn server_file_named(&mut self, file: &str) {
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

    /// The file a FUSE daemon writes: the first it holds open on another
    /// kept filesystem, else its cwd (`true`: assumed from the cwd).
    pub(super) fn fuse_file(&self, fsname: &str, p: &Process) -> Option<(String, bool)> {
        let own = |s: &str| s.starts_with(&format!("{fsname}:"));
        if let Some(f) = p
            .files
            .iter()
            .filter_map(|f| self.file_on_fs_peek(f))
            .find(|f| !own(f))
        {
            return Some((f, false));
        }
        let cwd = p.cwd.as_deref()?;
        self.file_on_fs_peek(cwd)
            .filter(|f| !own(f))
            .map(|f| (f, true))
    }

    /// A FUSE filesystem's daemon as a `[[daemon]]` writing [`Self::fuse_file`];
    /// `None` when there is no daemon or nowhere it writes (the caller has
    /// dropped such filesystems before any device refers to them).
    pub(super) fn fuse_device(
        &mut self,
        i: usize,
        fsname: &str,
        conn: u32,
        daemon: Option<&Process>,
    ) -> Option<Modelled> {
        let p = daemon?;
        let (file, from_cwd) = self.fuse_file(fsname, p)?;
        if from_cwd {
            self.notes.push(format!(
                "{fsname}: FUSE daemon {} has no file open on a modelled filesystem; \
                 assumed it writes where its cwd is ({file})",
                proc_label(p)
            ));
        }
        self.server_file_named(&file);
        let f = &self.t.filesystems[i];
        let what = format!(
            "{} on {}: FUSE connection {conn}, served by {}",
            f.fstype,
            f.mount_points[0],
            proc_label(p)
        );
        Some(self.daemon(&format!("fuse{conn}"), "fuse", p, &file, what))
    }
}

/// How many loop or daemon hops lie under device `name`, from the
/// topology alone: a device over a file on filesystem Y is one deeper than
/// Y's device; forwarding devices take their deepest lower device.
pub(super) fn topo_depth(t: &Topology, name: &str, guard: usize) -> u8 {
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

/// `dm-0 -> md0 -> sda1`, ending with the file a loop or daemon serves.
pub(super) fn chain(b: &Builder<'_>, dev: &str) -> String {
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
