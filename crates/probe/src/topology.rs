//! The storage stack as read from `/proc` and `/sys`, before it is turned
//! into a scenario: what is mounted from which device, what each device
//! sits on, who serves it, swap, watermarks and the kernel release.

/// A userspace process serving a device (tcmu-runner, a ublk server,
/// qemu-nbd, a FUSE daemon).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// `PR_SET_IO_FLUSHER` from the flags in `/proc/PID/stat`, where this
    /// kernel's flag values are known; `None`: could not tell.
    pub io_flusher: Option<bool>,
    /// Regular files it holds open (`/proc/PID/fd/*`), absolute paths.
    pub files: Vec<String>,
    /// `/proc/PID/cwd`.
    pub cwd: Option<String>,
}

/// Device-mapper target, from what sysfs shows (the table itself is only
/// visible through the dm ioctl).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DmTarget {
    /// dm-zoned: a regular device over a zoned one.
    Zoned,
    /// dm-crypt (`CRYPT-` uuid, set by cryptsetup).
    Crypt,
    /// An LVM volume (`LVM-` uuid), assumed linear.
    Lvm,
    /// dm-multipath (`mpath-` uuid).
    Multipath,
    /// Not shown by name or uuid.
    Unknown,
}

impl DmTarget {
    pub fn label(&self) -> &'static str {
        match self {
            DmTarget::Zoned => "dm-zoned",
            DmTarget::Crypt => "dm-crypt",
            DmTarget::Lvm => "LVM (dm-linear assumed)",
            DmTarget::Multipath => "dm-multipath",
            DmTarget::Unknown => "unknown dm target",
        }
    }
}

/// How a block device is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevKind {
    /// Hardware (or anything that completes bios without this machine's
    /// page cache): SCSI, NVMe over PCIe, virtio.
    Disk,
    /// A partition of `parent`.
    Partition { parent: String },
    /// A loop device and its backing file (`loop/backing_file`).
    Loop { backing: Option<String> },
    Dm {
        name: String,
        uuid: String,
        target: DmTarget,
    },
    /// md RAID (`md/level`).
    Md { level: String },
    /// NBD and the process that connected it (`pid`).
    Nbd { server: Option<Process> },
    /// ublk and the process holding `/dev/ublkcN`.
    Ublk { server: Option<Process> },
    /// A SCSI disk exported by this machine's LIO target from a tcmu
    /// (userspace) backstore: the `uio` device and its runner.
    Tcmu {
        uio: String,
        config: String,
        file: Option<String>,
        server: Option<Process>,
    },
    /// A device the model does not know: what it is, and what is assumed.
    Unknown { what: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDev {
    pub name: String,
    pub kind: DevKind,
    /// `slaves/`: the devices it sits on.
    pub lower: Vec<String>,
    /// `queue/zoned`: `none`, `host-aware` or `host-managed`.
    pub zoned: Option<String>,
}

/// What a filesystem is mounted from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A block device (by kernel name).
    Block(String),
    /// A FUSE connection (the mount's anonymous minor) and its daemon.
    Fuse { conn: u32, daemon: Option<Process> },
}

/// One superblock, with every place it is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    pub fstype: String,
    /// The mountinfo source field (`/dev/sda1`, `sshfs#host:`).
    pub source: String,
    pub major: u32,
    pub minor: u32,
    /// Every mount point, in mountinfo order; never empty.
    pub mount_points: Vec<String>,
    /// The `root` field of the first mount: which directory of the
    /// filesystem is mounted there (`/` unless a bind mount).
    pub mount_root: String,
    pub backing: Option<Source>,
}

/// A line of `/proc/swaps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swap {
    pub path: String,
    /// `partition` or `file`.
    pub kind: String,
    /// For a partition: its block device's kernel name, if found.
    pub device: Option<String>,
}

/// Watermarks (summed over every zone of `/proc/zoneinfo`) and meminfo, in
/// kB for meminfo and pages for zoneinfo, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub mem_total_kb: Option<u64>,
    pub anon_kb: Option<u64>,
    pub swap_total_kb: Option<u64>,
    pub min: u64,
    pub low: u64,
    pub high: u64,
}

/// A mount the model does not represent (no block device behind it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherMount {
    pub fstype: String,
    pub mount_point: String,
}

/// Everything the probe read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: Option<String>,
    pub filesystems: Vec<Filesystem>,
    /// Every device reached from a filesystem or swap, in the order met.
    pub devices: Vec<BlockDev>,
    pub swaps: Vec<Swap>,
    pub memory: Memory,
    pub other_mounts: Vec<OtherMount>,
    /// Block devices no mount or swap uses (`/sys/class/block`).
    pub idle_devices: Vec<String>,
    /// Things read but not modelled, and what was assumed instead.
    pub notes: Vec<String>,
    /// Files that could not be read.
    pub problems: Vec<String>,
}

impl Topology {
    pub fn device(&self, name: &str) -> Option<&BlockDev> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// The filesystem a path lives on: the longest mount point that is a
    /// prefix of it, among all mounts (a path on tmpfs is on no modelled
    /// filesystem). Returns the index and the path inside that filesystem.
    pub fn fs_of_path(&self, path: &str) -> Option<(usize, String)> {
        let under = |mp: &str| {
            mp == "/" || path == mp || path.strip_prefix(mp).is_some_and(|r| r.starts_with('/'))
        };
        let best_fs = self
            .filesystems
            .iter()
            .enumerate()
            .flat_map(|(i, f)| f.mount_points.iter().map(move |m| (i, m.as_str())))
            .filter(|(_, m)| under(m))
            .max_by_key(|(_, m)| m.len());
        let best_other = self
            .other_mounts
            .iter()
            .map(|o| o.mount_point.as_str())
            .filter(|m| under(m))
            .max_by_key(|m| m.len());
        let (i, mp) = best_fs?;
        if best_other.is_some_and(|o| o.len() > mp.len()) {
            return None;
        }
        let rest = if mp == "/" { path } else { &path[mp.len()..] };
        let root = self.filesystems[i].mount_root.trim_end_matches('/');
        let inner = format!("{root}{}", if rest.is_empty() { "/" } else { rest });
        Some((i, inner))
    }
}
