//! `/sys/class/block`: what each device is and what it sits on.
//!
//! Attributes, from Documentation/ABI (testing/sysfs-block,
//! stable/sysfs-block, testing/sysfs-block-loop, testing/sysfs-block-dm,
//! testing/sysfs-block-zram, stable/sysfs-class-uio...) and the drivers
//! that print them: `dev` (MAJ:MIN), `partition`, `slaves/`,
//! `queue/zoned` (`none`, `host-aware`, `host-managed`),
//! `loop/backing_file` (`loop_attr_backing_file_show`, drivers/block/loop.c),
//! `dm/name`, `dm/uuid` (`dm_attr_name_show`, drivers/md/dm-sysfs.c),
//! `md/level` (`level_show`, drivers/md/md.c), `pid` (`pid_show`,
//! drivers/block/nbd.c), `device/vendor`, `device/model` (SCSI INQUIRY),
//! `/sys/class/uio/uioN/name` (`tcmu_update_uio_info`,
//! drivers/target/target_core_user.c: `tcm-user/HOST/NAME/CONFIG`).

use crate::root::Root;
use crate::topology::{BlockDev, DevKind, DmTarget};

/// The kernel name of block device MAJ:MIN, and its parent disk for a
/// partition. `/sys/dev/block/MAJ:MIN` links to the device's directory
/// (`../../devices/.../block/sda/sda1`): the last component is the name,
/// the one before it the disk when it is not `block` (Documentation/ABI/
/// stable/sysfs-dev). Falls back to reading every `/sys/class/block/*/dev`.
pub fn name_of(root: &Root, major: u32, minor: u32) -> Option<String> {
    if let Some(t) = root.link(&format!("/sys/dev/block/{major}:{minor}")) {
        return t.rsplit('/').next().map(str::to_string);
    }
    let want = format!("{major}:{minor}");
    root.names("/sys/class/block")
        .into_iter()
        .find(|n| root.attr(&format!("/sys/class/block/{n}/dev")).as_deref() == Some(&want))
}

/// A device named by a path under /dev (mountinfo source, /proc/swaps):
/// `/dev/sda1`, `/dev/dm-0`, `/dev/mapper/NAME` (the dm name in `dm/name`).
pub fn name_of_path(root: &Root, path: &str) -> Option<String> {
    if let Some(m) = path.strip_prefix("/dev/mapper/") {
        return root
            .names("/sys/class/block")
            .into_iter()
            .filter(|n| n.starts_with("dm-"))
            .find(|n| {
                root.attr(&format!("/sys/class/block/{n}/dm/name"))
                    .as_deref()
                    == Some(m)
            });
    }
    let base = path.strip_prefix("/dev/")?.rsplit('/').next()?;
    root.attr(&format!("/sys/class/block/{base}/dev"))
        .map(|_| base.to_string())
}

/// The disk a partition belongs to: from the `/sys/dev/block` link when it
/// was read, else by the kernel's naming rule (`sda1` of `sda`, `nbd0p1`
/// of `nbd0`: a `p` before the number when the disk name ends in a digit,
/// block/partitions/core.c `add_partition`).
fn parent_of(root: &Root, name: &str) -> Option<String> {
    let dev = root.attr(&format!("/sys/class/block/{name}/dev"))?;
    if let Some(t) = root.link(&format!("/sys/dev/block/{dev}")) {
        let mut it = t.rsplit('/');
        it.next();
        if let Some(p) = it.next()
            && p != "block"
        {
            return Some(p.to_string());
        }
    }
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let stem = match stem.strip_suffix('p') {
        Some(s) if s.ends_with(|c: char| c.is_ascii_digit()) => s,
        _ => stem,
    };
    (stem != name && !stem.is_empty()).then(|| stem.to_string())
}

/// A tcmu device as `/sys/class/uio/uioN/name` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcmuUio {
    pub uio: String,
    pub name: String,
    pub config: String,
}

/// `tcm-user/HOST/NAME[/CONFIG]`: CONFIG is the handler's cfgstring,
/// `SUBTYPE/PATH` (tcmu-runner's file handlers take the path after the
/// subtype, with options before an `@`).
pub fn tcmu_uios(root: &Root) -> Vec<TcmuUio> {
    let mut out = Vec::new();
    for uio in root.names("/sys/class/uio") {
        let Some(name) = root.attr(&format!("/sys/class/uio/{uio}/name")) else {
            continue;
        };
        let Some(rest) = name.strip_prefix("tcm-user/") else {
            continue;
        };
        let mut it = rest.splitn(3, '/');
        let host = it.next().unwrap_or("");
        let dev = it.next().unwrap_or("").to_string();
        let mut config = it.next().unwrap_or("").to_string();
        if config.is_empty() {
            // Set after the uio device was named: the configfs attribute
            // (`tcmu_dev_config_show`) has it; the hba directory is
            // `user_HOST`, as `core_alloc_hba` numbers it.
            config = root
                .attr(&format!(
                    "/sys/kernel/config/target/core/user_{host}/{dev}/attrib/dev_config"
                ))
                .unwrap_or_default();
        }
        out.push(TcmuUio {
            uio,
            name: dev,
            config,
        });
    }
    out
}

/// The backing file in a tcmu cfgstring, if it names one.
pub fn tcmu_file(config: &str) -> Option<String> {
    let (_subtype, rest) = config.split_once('/')?;
    let path = rest.rsplit('@').next()?;
    path.starts_with('/').then(|| path.to_string())
}

/// Classify one device from its sysfs directory. Servers (processes) are
/// filled in later by the caller, from one pass over `/proc`.
pub fn classify(root: &Root, name: &str, tcmu: &[TcmuUio], notes: &mut Vec<String>) -> BlockDev {
    let base = format!("/sys/class/block/{name}");
    let a = |rel: &str| root.attr(&format!("{base}/{rel}"));
    let zoned = a("queue/zoned");
    let lower = root.names(&format!("{base}/slaves"));
    let prefix = |p: &str| {
        name.strip_prefix(p)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    // `partition` is read, not just tested, so a capture keeps it.
    let kind = if root.read(&format!("{base}/partition")).is_some() {
        match parent_of(root, name) {
            Some(parent) => DevKind::Partition { parent },
            None => {
                notes.push(format!(
                    "{name}: a partition whose disk could not be found; assumed a disk"
                ));
                DevKind::Disk
            }
        }
    } else if root.exists(&format!("{base}/loop")) || prefix("loop") {
        DevKind::Loop {
            backing: a("loop/backing_file"),
        }
    } else if root.exists(&format!("{base}/dm")) {
        let dm_name = a("dm/name").unwrap_or_default();
        let uuid = a("dm/uuid").unwrap_or_default();
        let target = dm_target(root, &dm_name, &uuid, zoned.as_deref(), &lower);
        DevKind::Dm {
            name: dm_name,
            uuid,
            target,
        }
    } else if root.exists(&format!("{base}/md")) {
        DevKind::Md {
            level: a("md/level").unwrap_or_else(|| "unknown".into()),
        }
    } else if prefix("nbd") {
        DevKind::Nbd { server: None }
    } else if prefix("ublkb") {
        DevKind::Ublk { server: None }
    } else if let Some(what) = unmodelled(root, name, &base) {
        DevKind::Unknown { what }
    } else if a("device/vendor").as_deref() == Some("LIO-ORG") {
        lio_disk(name, a("device/model").unwrap_or_default(), tcmu, notes)
    } else if let Some(session) = iscsi_session(root, a("dev")) {
        DevKind::Unknown {
            what: format!("iSCSI (a SCSI disk reached through {session})"),
        }
    } else {
        DevKind::Disk
    };
    BlockDev {
        name: name.to_string(),
        kind,
        lower,
        zoned,
    }
}

/// The iSCSI session a SCSI disk is reached through: the initiator puts
/// its hosts' targets under a `sessionN` device
/// (drivers/scsi/scsi_transport_iscsi.c, `iscsi_add_session`), which shows
/// in the `/sys/dev/block/MAJ:MIN` link.
fn iscsi_session(root: &Root, dev: Option<String>) -> Option<String> {
    let t = root.link(&format!("/sys/dev/block/{}", dev?))?;
    t.split('/')
        .find(|c| {
            c.strip_prefix("session")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// Device-mapper targets are only listed by the dm ioctl, so go by what
/// sysfs shows: dm-zoned is the one in-tree target that exposes a regular
/// device over a zoned one (drivers/md/dm-zoned-target.c); cryptsetup,
/// LVM and multipath prefix the uuid (`CRYPT-`, `LVM-`, `mpath-`).
fn dm_target(
    root: &Root,
    name: &str,
    uuid: &str,
    zoned: Option<&str>,
    lower: &[String],
) -> DmTarget {
    let lower_zoned = lower.iter().any(|l| {
        root.attr(&format!("/sys/class/block/{l}/queue/zoned"))
            .is_some_and(|z| z != "none")
    });
    if lower_zoned && zoned.is_none_or(|z| z == "none") || name.starts_with("dmz-") {
        DmTarget::Zoned
    } else if uuid.starts_with("CRYPT-") {
        DmTarget::Crypt
    } else if uuid.starts_with("LVM-") {
        DmTarget::Lvm
    } else if uuid.starts_with("mpath-") {
        DmTarget::Multipath
    } else {
        DmTarget::Unknown
    }
}

/// Devices whose I/O path the model has no actor for.
fn unmodelled(root: &Root, name: &str, base: &str) -> Option<String> {
    let starts = |p: &str| name.starts_with(p);
    if starts("zram") {
        Some("zram (compressed RAM block device)".into())
    } else if starts("rbd") {
        Some("rbd (Ceph RADOS block device, kernel client over the network)".into())
    } else if starts("drbd") {
        Some("drbd (replicated over the network)".into())
    } else if starts("bcache") {
        Some("bcache (a cache device in front of a backing device)".into())
    } else if starts("nvme") {
        match root.attr(&format!("{base}/device/transport")) {
            Some(t) if t != "pcie" => Some(format!("NVMe over Fabrics (transport {t})")),
            _ => None,
        }
    } else {
        None
    }
}

/// A SCSI disk exported by this machine's LIO target: tcmu when a
/// `tcm-user` uio device matches it by name (the INQUIRY model is the
/// backstore name with `emulate_model_alias`), or when it is the only one.
fn lio_disk(name: &str, model: String, tcmu: &[TcmuUio], notes: &mut Vec<String>) -> DevKind {
    let by_model = tcmu.iter().find(|t| !t.name.is_empty() && t.name == model);
    let t = match (by_model, tcmu) {
        (Some(t), _) => t,
        (None, [only]) => only,
        (None, []) => {
            return DevKind::Unknown {
                what: "a SCSI disk from an LIO target (vendor LIO-ORG) with no tcmu device on \
                       this machine: iSCSI or a kernel backstore"
                    .into(),
            };
        }
        (None, many) => {
            notes.push(format!(
                "{name}: LIO disk (model `{model}`) matched to {} of {} tcmu devices by order; \
                 the backstore name is not in its INQUIRY data",
                many[0].uio,
                many.len()
            ));
            &many[0]
        }
    };
    DevKind::Tcmu {
        uio: t.uio.clone(),
        config: t.config.clone(),
        file: tcmu_file(&t.config),
        server: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcmu_config_from_configfs_when_the_uio_name_has_none() {
        let dir = std::env::temp_dir().join(format!("rs-probe-tcmu-{}", std::process::id()));
        let w = |p: &str, t: &str| {
            let f = dir.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, t).unwrap();
        };
        w("sys/class/uio/uio3/name", "tcm-user/2/disk7\n");
        w(
            "sys/kernel/config/target/core/user_2/disk7/attrib/dev_config",
            "file//srv/d7.img\n",
        );
        let v = tcmu_uios(&Root::new(&dir));
        assert_eq!(
            v,
            [TcmuUio {
                uio: "uio3".into(),
                name: "disk7".into(),
                config: "file//srv/d7.img".into()
            }]
        );
        assert_eq!(tcmu_file(&v[0].config).as_deref(), Some("/srv/d7.img"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tcmu_cfgstring_paths() {
        assert_eq!(
            tcmu_file("file//srv/zoned.img").as_deref(),
            Some("/srv/zoned.img")
        );
        assert_eq!(
            tcmu_file("zbc/model-HM/zsize-256@/srv/z.raw").as_deref(),
            Some("/srv/z.raw")
        );
        assert_eq!(tcmu_file("rbd/pool/image"), None);
        assert_eq!(tcmu_file(""), None);
    }
}
