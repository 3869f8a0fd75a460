//! Scenario files: a storage stack under memory pressure, written in TOML
//! for a kernel developer to read (see `docs/scenarios.md`). Loading
//! validates names, the device stack and every task program, and reports
//! errors with file, line and column.
//!
//! One file per section of the scenario file: `memory.rs` (`[memory]`),
//! `devices.rs` (`[[disk]]`, `[[loop]]`, `[[dm]]`), `daemon.rs`
//! (`[[daemon]]`), `fs.rs` (`[[fs]]`), `bufio.rs` (`[[bufio]]`), `locks.rs`
//! (`[[lock]]`), `tasks.rs` (`[[task]]`); `names.rs` is the namespace they
//! share, `source.rs` turns values into located errors, `validate.rs` holds
//! the value rules the file and `--set` share, `set.rs` the overrides.

use crate::program::{self, Stmt};

mod bufio;
mod daemon;
mod devices;
mod fs;
mod locks;
mod memory;
mod names;
mod set;
mod source;
mod tasks;
mod validate;

use bufio::{RawBufio, parse_alloc, parse_gate};
use daemon::RawDaemon;
use devices::{RawDisk, RawDm, RawLoop, check_stack, fs_of_file};
use fs::RawFs;
use locks::RawLock;
use memory::RawMemory;
use names::Names;
use reclaimscope_model::history::{
    self, BufioAlloc, FactId, InodeReclaim, KernelParams, KernelVersion, LockKind, Release,
    VmallocMode,
};
use reclaimscope_model::reclaim::BufioGate;
use reclaimscope_model::task::Scope;
use reclaimscope_model::{Gfp, Policy};
use serde::Deserialize;
use source::{check_span, control_char, gfp_at, keyword};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use tasks::RawTask;
use toml::Spanned;

pub use bufio::{Bufio, alloc_name};
pub use devices::{DevKind, Device};
pub use fs::Fs;
pub use memory::Memory;
pub(crate) use source::{Errs, string_body_offset};
pub use source::{ScenarioError, line_col, parse_gfp};
pub(crate) use tasks::RawTaskView;
pub use tasks::TaskSpec;
pub use validate::{Field, Invalid, THREADS};

/// Capacity of a world (fixed-size arrays keep `World` allocation-free).
/// 20 tasks: eight writers on a queue-depth-8 daemon, its eight handler
/// threads, the flusher and kswapd (`bench/check-scale`).
pub const MAX_TASKS: usize = 20;
pub const MAX_FS: usize = 8;
pub const MAX_LOCKS: usize = 16;
pub const MAX_BUFIO: usize = 4;
pub const MAX_DEVICES: usize = 16;
pub const MAX_PAGES: u32 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    description: Option<String>,
    policy: Option<Spanned<String>>,
    vmalloc: Option<Spanned<String>>,
    memory: RawMemory,
    #[serde(default)]
    disk: Vec<RawDisk>,
    #[serde(default, rename = "loop")]
    loops: Vec<RawLoop>,
    #[serde(default)]
    dm: Vec<RawDm>,
    #[serde(default)]
    daemon: Vec<RawDaemon>,
    #[serde(default)]
    fs: Vec<RawFs>,
    #[serde(default)]
    bufio: Vec<RawBufio>,
    #[serde(default)]
    lock: Vec<RawLock>,
    #[serde(default)]
    task: Vec<RawTask>,
}

/// A parsed, validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub origin: String,
    pub policies: Vec<Policy>,
    pub memory: Memory,
    pub devices: Vec<Device>,
    pub fss: Vec<Fs>,
    pub bufios: Vec<Bufio>,
    pub locks: Vec<String>,
    /// What each lock stands for (bufio clients' locks are mutexes).
    pub lock_kinds: Vec<LockKind>,
    /// Holding lock `l` is a NOFS scope (its kind, on the release modelled;
    /// `--set LOCK.nofs=`).
    pub lock_nofs: Vec<bool>,
    pub tasks: Vec<TaskSpec>,
    pub vmalloc: VmallocMode,
    /// `prctl(PR_SET_IO_FLUSHER)` exists (v5.6+); without it a task's
    /// `prctl io-flusher` fails with -EINVAL and changes nothing.
    pub io_flusher_prctl: bool,
    /// The release `--kernel` set, if any.
    pub kernel: Option<KernelVersion>,
    /// What `--kernel` changed in the scenario's meaning, for the user.
    pub notes: Vec<String>,
}

fn parse_vmalloc(s: &str) -> Option<VmallocMode> {
    match s {
        "legacy" => Some(VmallocMode::Legacy),
        "modern" => Some(VmallocMode::Modern),
        _ => None,
    }
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let origin = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            origin: origin.clone(),
            line: 1,
            col: 1,
            span: None,
            message: format!("cannot read: {e}"),
        })?;
        Scenario::from_toml_str(&src, &origin)
    }

    pub fn from_toml_str(src: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let e = Errs { origin, src };
        if let Some((i, c)) = control_char(src) {
            return Err(e.at(
                i..i + c.len_utf8(),
                format!(
                    "control character U+{:04X} is not allowed in a scenario file (TOML allows tab, newline and CRLF line ends; inside a string write it as \\u{:04X})",
                    c as u32, c as u32
                ),
            ));
        }
        let raw: RawScenario = toml::from_str(src).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            // The toml crate has no message for some inputs, e.g. one that
            // ends right after `key = `.
            let message = match err.message().trim() {
                "" if span.start >= src.trim_end().len() => "unexpected end of file".to_string(),
                "" => "invalid TOML".to_string(),
                m => m.to_string(),
            };
            e.at(span, message)
        })?;
        build(raw, &e)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Policies the scenario names (default `baseline`).
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Pages in the world: free, page cache, inodes, anonymous, buffers.
    pub fn total_pages(&self) -> u32 {
        self.memory.free as u32
            + self.memory.anon as u32
            + self
                .fss
                .iter()
                .map(|f| f.clean as u32 + f.dirty as u32 + f.inodes as u32)
                .sum::<u32>()
            + self
                .bufios
                .iter()
                .map(|b| b.clean as u32 + b.dirty as u32)
                .sum::<u32>()
    }

    /// The served device a bio to `dev` ends up on (dm targets forward).
    pub fn resolve(&self, mut dev: usize) -> usize {
        for _ in 0..self.devices.len() {
            match self.devices[dev].kind {
                DevKind::Dm { lower, .. } => dev = lower,
                _ => return dev,
            }
        }
        dev
    }

    /// Nesting depth of a device: a disk is 0; a loop/daemon over a file
    /// on fs Y is depth(Y)+1; a dm target has its lower device's depth.
    pub fn dev_depth(&self, dev: usize) -> u8 {
        let mut d = dev;
        for _ in 0..=self.devices.len() {
            match &self.devices[d].kind {
                DevKind::Disk => return 0,
                DevKind::Dm { lower, .. } => d = *lower,
                DevKind::Loop { fs, .. } | DevKind::Daemon { fs: Some(fs), .. } => {
                    return self.fs_depth(*fs).saturating_add(1);
                }
                // A socket transport: the peer is remote, like a disk.
                DevKind::Daemon { fs: None, .. } => return 0,
            }
        }
        0
    }

    pub fn fs_depth(&self, fs: usize) -> u8 {
        self.dev_depth(self.fss[fs].dev)
    }

    /// The fs a device's server does file I/O on, if any.
    pub fn backing_fs(&self, dev: usize) -> Option<usize> {
        match &self.devices[dev].kind {
            DevKind::Loop { fs, .. } => Some(*fs),
            DevKind::Daemon { fs, .. } => *fs,
            _ => None,
        }
    }
}

/// Resolves names and builds the sections in a fixed order (so the first
/// error reported does not depend on the file's layout): names, capacities,
/// devices, filesystems, bufio clients, memory, policies, the stack's
/// acyclicity, tasks, daemons' `serve` programs, then the value rules.
fn build(raw: RawScenario, e: &Errs) -> Result<Scenario, ScenarioError> {
    let mut names = Names::new(e);
    // Devices first (all kinds share one index space), then fs, bufio, locks, tasks.
    let mut dev_names: Vec<&Spanned<String>> = Vec::new();
    dev_names.extend(raw.disk.iter().map(|d| &d.name));
    dev_names.extend(raw.loops.iter().map(|d| &d.name));
    dev_names.extend(raw.dm.iter().map(|d| &d.name));
    dev_names.extend(raw.daemon.iter().map(|d| &d.name));
    for (i, n) in dev_names.iter().enumerate() {
        names.add(n, "device", i)?;
    }
    for (i, f) in raw.fs.iter().enumerate() {
        names.add(&f.name, "filesystem", i)?;
    }
    for (i, b) in raw.bufio.iter().enumerate() {
        names.add(&b.name, "bufio client", i)?;
    }
    let (locks, lock_kinds) = locks::define(&raw.lock, &raw.bufio, &mut names)?;
    for (i, t) in raw.task.iter().enumerate() {
        names.add(&t.name, "task", i)?;
    }
    let over = |what: &str, n: usize, max: usize, last: Option<&Spanned<String>>| {
        if n > max {
            let span = last.map_or(0..0, |n| n.span());
            Err(e.at(span, format!("too many {what}: {n} (at most {max})")))
        } else {
            Ok(())
        }
    };
    over(
        "devices",
        dev_names.len(),
        MAX_DEVICES,
        dev_names.last().copied(),
    )?;
    over(
        "filesystems",
        raw.fs.len(),
        MAX_FS,
        raw.fs.last().map(|f| &f.name),
    )?;
    over(
        "bufio clients",
        raw.bufio.len(),
        MAX_BUFIO,
        raw.bufio.last().map(|b| &b.name),
    )?;
    over(
        "locks",
        locks.len(),
        MAX_LOCKS,
        raw.lock.last().map(|l| &l.name),
    )?;

    let mut devices: Vec<Device> = raw.disk.iter().map(RawDisk::build).collect();
    for d in &raw.loops {
        devices.push(d.build(&names)?);
    }
    for d in &raw.dm {
        devices.push(d.build(&names)?);
    }
    for d in &raw.daemon {
        devices.push(d.build(&names)?);
    }
    let fss = raw
        .fs
        .iter()
        .map(|f| f.build(&names))
        .collect::<Result<_, _>>()?;
    let bufios = raw
        .bufio
        .iter()
        .enumerate()
        .map(|(i, b)| b.build(&names, raw.lock.len() + i))
        .collect::<Result<_, _>>()?;
    let m = &raw.memory;
    let memory = m.build(&names)?;
    let policies = match &raw.policy {
        None => vec![Policy::BASELINE],
        Some(p) => p
            .get_ref()
            .split(',')
            .map(|s| Policy::parse(s.trim()).map_err(|m| e.at(p.span(), m)))
            .collect::<Result<_, _>>()?,
    };
    let vmalloc = match &raw.vmalloc {
        None => VmallocMode::Modern,
        Some(v) => keyword(e, v, "vmalloc mode", "legacy, modern", parse_vmalloc)?,
    };
    let mut sc = Scenario {
        name: raw
            .name
            .as_ref()
            .map_or_else(|| "scenario".into(), |n| n.get_ref().clone()),
        description: raw.description.clone().unwrap_or_default(),
        origin: e.origin.to_string(),
        policies,
        memory,
        devices,
        fss,
        bufios,
        lock_nofs: lock_kinds.iter().map(|k| k.nofs_scope(None)).collect(),
        lock_kinds,
        locks,
        tasks: Vec::new(),
        vmalloc,
        io_flusher_prctl: true,
        kernel: None,
        notes: Vec::new(),
    };
    check_stack(&sc, &dev_names, e)?;
    sc.tasks = raw
        .task
        .iter()
        .map(|t| t.build(&names, &sc))
        .collect::<Result<_, _>>()?;
    // Daemons' per-request programs (devices are indexed disks, loops, dm,
    // then daemons).
    let first_daemon = raw.disk.len() + raw.loops.len() + raw.dm.len();
    for (i, d) in raw.daemon.iter().enumerate() {
        let DevKind::Daemon { fs, .. } = &sc.devices[first_daemon + i].kind else {
            continue;
        };
        let serve = d.serve(fs.is_some(), &names, &sc)?;
        if let DevKind::Daemon { serve: s, .. } = &mut sc.devices[first_daemon + i].kind {
            *s = serve;
        }
    }
    // Pages only move between free, caches and tasks: bounding the sum
    // bounds every counter of the world.
    sc.validate().map_err(|inv| {
        let span = match inv.field {
            Field::Watermarks => m.watermark_span(&sc.memory),
            Field::QueueDepth(d) | Field::Threads(d) => {
                raw.daemon[d - first_daemon].span_of(&inv.field)
            }
            Field::DirtyInodes(f) => raw.fs[f]
                .dirty_inodes
                .as_ref()
                .map_or(raw.fs[f].name.span(), check_span),
            Field::TotalPages => m.free.span(),
            Field::Tasks => raw.task.last().map_or(m.free.span(), |t| t.name.span()),
            Field::Repeat(t) => raw.task[t].name.span(),
        };
        e.at(span, inv.message)
    })?;
    Ok(sc)
}
