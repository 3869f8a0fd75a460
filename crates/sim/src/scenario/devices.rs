//! `[[disk]]`, `[[loop]]` and `[[dm]]`: the block devices a scenario stacks,
//! and the rule that the stack has no cycle. Daemon-served devices are in
//! `daemon.rs`. All kinds share one index space: disks, loops, dm targets,
//! then daemons, in file order.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDisk {
    pub name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoop {
    pub name: Spanned<String>,
    file: Spanned<String>,
    #[serde(default)]
    noio: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDm {
    pub name: Spanned<String>,
    target: Spanned<String>,
    lower: Spanned<String>,
}

/// How a device is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DevKind {
    /// Completes bios by itself.
    Disk,
    /// A kernel worker turning bios into file I/O on `fs`.
    Loop { fs: usize, file: String, noio: bool },
    /// Forwards bios to `lower` (dm-zoned, dm-linear), allocating from its bioset.
    Dm { target: String, lower: usize },
    /// A userspace process (tcmu-runner, FUSE, ublk, NBD) serving requests:
    /// pread/pwrite on a file in `fs`, or forwarding over a socket.
    Daemon {
        kind: String,
        process: String,
        /// The backing file's fs; `None` for a socket transport.
        fs: Option<usize>,
        file: String,
        /// Ring depth. A request beyond it waits for a tag, which, like a
        /// request in the ring, waits for a handler thread: the model's
        /// queue is not bounded by it.
        queue_depth: u8,
        /// Handler threads (tasks).
        threads: u8,
        /// Called `prctl(PR_SET_IO_FLUSHER, 1)`: PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE.
        io_flusher: bool,
        /// What a handler runs per write request.
        serve: Vec<Stmt>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub kind: DevKind,
}

/// A backing file written `FS:PATH`: the filesystem's index and the path.
pub(super) fn fs_of_file(
    names: &Names,
    file: &Spanned<String>,
) -> Result<(usize, String), ScenarioError> {
    let text = file.get_ref();
    let (fs, path) = text.split_once(':').ok_or_else(|| {
        names.e.at(
            file.span(),
            format!("`{text}` should be FS:PATH, e.g. `ext4:/images/disk0.img`"),
        )
    })?;
    let sp = Spanned::new(file.span(), fs.to_string());
    let (_, i) = names.get(&sp, &["filesystem"])?;
    Ok((i, path.to_string()))
}

impl RawDisk {
    pub fn build(&self) -> Device {
        Device {
            name: self.name.get_ref().clone(),
            kind: DevKind::Disk,
        }
    }
}

impl RawLoop {
    pub fn build(&self, names: &Names) -> Result<Device, ScenarioError> {
        let (fs, file) = fs_of_file(names, &self.file)?;
        Ok(Device {
            name: self.name.get_ref().clone(),
            kind: DevKind::Loop {
                fs,
                file,
                noio: self.noio,
            },
        })
    }
}

impl RawDm {
    pub fn build(&self, names: &Names) -> Result<Device, ScenarioError> {
        let target = self.target.get_ref();
        if !["zoned", "linear"].contains(&target.as_str()) {
            return Err(names.e.at(
                self.target.span(),
                format!("unknown dm target `{target}`; known: zoned, linear"),
            ));
        }
        let (_, lower) = names.get(&self.lower, &["device"])?;
        Ok(Device {
            name: self.name.get_ref().clone(),
            kind: DevKind::Dm {
                target: target.clone(),
                lower,
            },
        })
    }
}

/// The device stack must be a DAG: a loop/daemon over a file on a fs that
/// sits (through any number of layers) on that same device is a cycle.
pub(super) fn check_stack(
    sc: &Scenario,
    dev_names: &[&Spanned<String>],
    e: &Errs,
) -> Result<(), ScenarioError> {
    let n = sc.devices.len();
    // Edges: device -> what it needs (lower device, or the backing fs's device).
    let next = |d: usize| -> Option<usize> {
        match &sc.devices[d].kind {
            DevKind::Disk => None,
            DevKind::Dm { lower, .. } => Some(*lower),
            DevKind::Loop { fs, .. } => Some(sc.fss[*fs].dev),
            DevKind::Daemon { fs, .. } => fs.map(|f| sc.fss[f].dev),
        }
    };
    for (start, start_name) in dev_names.iter().enumerate().take(n) {
        let mut d = start;
        let mut path = vec![sc.devices[d].name.clone()];
        for _ in 0..n {
            match next(d) {
                None => break,
                Some(x) if x == start => {
                    path.push(sc.devices[x].name.clone());
                    return Err(e.at(
                        start_name.span(),
                        format!("cycle in the device stack: {}", path.join(" -> ")),
                    ));
                }
                Some(x) => {
                    d = x;
                    path.push(sc.devices[x].name.clone());
                }
            }
        }
    }
    Ok(())
}
