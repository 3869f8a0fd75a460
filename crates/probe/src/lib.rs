//! Read the storage stack of a running machine (or of a tree captured from
//! one) into a [`Topology`], and write it as a scenario `check` can answer
//! "could this stack deadlock on the kernel I run?" for.
//!
//! Reading never fails: a missing or unreadable file is reported in
//! [`Topology::problems`] and the probe carries on with what it has. A
//! device or daemon the model has no actor for is named in
//! [`Topology::notes`] with what was assumed in its place.
//!
//! Module map: [`root`] reads (and records, for `--capture`), [`proc`]
//! parses `/proc`, [`block`] classifies `/sys/class/block`, [`topology`]
//! holds the result, [`scenario`] writes it through the [`toml`] builder.

pub mod block;
pub mod proc;
pub mod root;
pub mod scenario;
pub mod toml;
pub mod topology;

pub use root::Root;
pub use scenario::{Written, write_scenario};
pub use topology::Topology;

use reclaimscope_model::history::KernelVersion;
use topology::{DevKind, Filesystem, OtherMount, Source};

/// FUSE mounts (`fuse`, `fuse.sshfs`, `fuseblk`) are served by a daemon.
fn is_fuse(fstype: &str) -> bool {
    fstype == "fuse" || fstype == "fuseblk" || fstype.starts_with("fuse.")
}

/// Read everything under `root`.
pub fn probe(root: &Root) -> Topology {
    let mut t = Topology {
        kernel: root.attr("/proc/sys/kernel/osrelease"),
        ..Topology::default()
    };
    if t.kernel.is_none() {
        root.note_problem("cannot read /proc/sys/kernel/osrelease: kernel release unknown".into());
    }
    let kver = t
        .kernel
        .as_deref()
        .and_then(|k| KernelVersion::parse(k).ok());
    let mounts = match root.read_required("/proc/self/mountinfo") {
        Some(text) => proc::parse_mountinfo(root, "/proc/self/mountinfo", &text),
        None => Vec::new(),
    };
    // One filesystem per superblock: bind mounts share MAJ:MIN.
    for m in &mounts {
        let fuse = is_fuse(&m.fstype);
        if m.major == 0 && !fuse && !m.source.starts_with("/dev/") {
            t.other_mounts.push(OtherMount {
                fstype: m.fstype.clone(),
                mount_point: m.mount_point.clone(),
            });
            continue;
        }
        if let Some(f) = t
            .filesystems
            .iter_mut()
            .find(|f| (f.major, f.minor) == (m.major, m.minor))
        {
            f.mount_points.push(m.mount_point.clone());
            continue;
        }
        let backing = if fuse {
            Some(Source::Fuse {
                conn: m.minor,
                daemon: None,
            })
        } else {
            // btrfs reports an anonymous 0:N; its source names the device.
            let name = if m.major != 0 {
                block::name_of(root, m.major, m.minor)
            } else {
                None
            }
            .or_else(|| block::name_of_path(root, &m.source));
            if name.is_none() {
                t.notes.push(format!(
                    "{} on {} ({}:{}): its block device is not in /sys; not modelled",
                    m.fstype, m.mount_point, m.major, m.minor
                ));
            }
            name.map(Source::Block)
        };
        if backing.is_none() {
            continue;
        }
        t.filesystems.push(Filesystem {
            fstype: m.fstype.clone(),
            source: m.source.clone(),
            major: m.major,
            minor: m.minor,
            mount_points: vec![m.mount_point.clone()],
            mount_root: m.root.clone(),
            backing,
        });
    }
    if let Some(text) = root.read("/proc/swaps") {
        t.swaps = proc::parse_swaps(&text);
    }
    walk_devices(root, &mut t);
    attach_servers(root, &mut t, kver);
    t.memory = proc::memory(root);
    let used: Vec<&str> = t.devices.iter().map(|d| d.name.as_str()).collect();
    t.idle_devices = root
        .names("/sys/class/block")
        .into_iter()
        .filter(|n| !used.contains(&n.as_str()))
        .collect();
    t.problems = root.problems();
    t
}

/// Every device under a filesystem or a swap partition, depth first from
/// each, following `slaves/` and partitions' disks.
fn walk_devices(root: &Root, t: &mut Topology) {
    let tcmu = block::tcmu_uios(root);
    let mut todo: Vec<String> = Vec::new();
    for f in &t.filesystems {
        if let Some(Source::Block(n)) = &f.backing {
            todo.push(n.clone());
        }
    }
    for s in t.swaps.iter_mut().filter(|s| s.kind == "partition") {
        s.device = block::name_of_path(root, &s.path);
        match &s.device {
            Some(n) => todo.push(n.clone()),
            None => t.notes.push(format!(
                "swap partition {}: not found in /sys/class/block; not modelled",
                s.path
            )),
        }
    }
    todo.reverse();
    while let Some(name) = todo.pop() {
        if t.device(&name).is_some() {
            continue;
        }
        let d = block::classify(root, &name, &tcmu, &mut t.notes);
        let mut next: Vec<String> = d.lower.clone();
        if let DevKind::Partition { parent } = &d.kind {
            next.push(parent.clone());
        }
        t.devices.push(d);
        for n in next.into_iter().rev() {
            todo.push(n);
        }
    }
}

/// Fill in the processes serving NBD, ublk, tcmu and FUSE, from one pass
/// over `/proc/*/fd` for the device nodes they hold.
fn attach_servers(root: &Root, t: &mut Topology, kver: Option<KernelVersion>) {
    let mut nodes = Vec::new();
    for d in &t.devices {
        match &d.kind {
            DevKind::Ublk { .. } => {
                nodes.push(format!("/dev/ublkc{}", d.name.trim_start_matches("ublkb")))
            }
            DevKind::Tcmu { uio, .. } => nodes.push(format!("/dev/{uio}")),
            _ => {}
        }
    }
    if t.filesystems
        .iter()
        .any(|f| matches!(f.backing, Some(Source::Fuse { .. })))
    {
        nodes.push("/dev/fuse".to_string());
    }
    let holders = proc::holders(root, &nodes);
    if holders.hidden > 0 && !nodes.is_empty() {
        t.notes.push(format!(
            "the open files of {} processes could not be read (permission): a daemon among \
             them would not be found; run as root to see every one",
            holders.hidden
        ));
    }
    let first = |node: &str| holders.by_node.get(node).and_then(|v| v.first().copied());
    for i in 0..t.devices.len() {
        let name = t.devices[i].name.clone();
        let pid = match &t.devices[i].kind {
            DevKind::Nbd { .. } => root
                .attr(&format!("/sys/class/block/{name}/pid"))
                .and_then(|p| p.parse::<u32>().ok()),
            DevKind::Ublk { .. } => {
                first(&format!("/dev/ublkc{}", name.trim_start_matches("ublkb")))
            }
            DevKind::Tcmu { uio, .. } => first(&format!("/dev/{uio}")),
            _ => continue,
        };
        let server = pid.map(|p| proc::process(root, p, kver));
        match &mut t.devices[i].kind {
            DevKind::Nbd { server: s }
            | DevKind::Ublk { server: s }
            | DevKind::Tcmu { server: s, .. } => *s = server,
            _ => {}
        }
    }
    let fuse_pids = holders
        .by_node
        .get("/dev/fuse")
        .cloned()
        .unwrap_or_default();
    for f in &mut t.filesystems {
        let Some(Source::Fuse { daemon, .. }) = &mut f.backing else {
            continue;
        };
        // Several FUSE daemons: prefer the one named by the subtype
        // (`fuse.sshfs` is served by `sshfs`), else the first, and say so.
        let subtype = f.fstype.strip_prefix("fuse.").unwrap_or("");
        let procs: Vec<_> = fuse_pids
            .iter()
            .map(|&p| proc::process(root, p, kver))
            .collect();
        let pick = procs
            .iter()
            .find(|p| !subtype.is_empty() && p.comm == subtype)
            .or_else(|| procs.first())
            .cloned();
        if procs.len() > 1 && pick.as_ref().is_some_and(|p| p.comm != subtype) {
            t.notes.push(format!(
                "{} on {}: {} processes hold /dev/fuse; assumed `{}` serves it",
                f.fstype,
                f.mount_points[0],
                procs.len(),
                pick.as_ref().map_or("", |p| p.comm.as_str())
            ));
        }
        *daemon = pick;
    }
}
