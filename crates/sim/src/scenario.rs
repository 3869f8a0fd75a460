//! Scenario files: a storage stack under memory pressure, written in TOML
//! for a kernel developer to read (see `docs/scenarios.md`). Loading
//! validates names, the device stack and every task program, and reports
//! errors with file, line and column.

use crate::program::{self, Stmt};
use reclaimscope_model::history::{BufioAlloc, KernelParams, KernelVersion, VmallocMode};
use reclaimscope_model::reclaim::BufioGate;
use reclaimscope_model::task::Scope;
use reclaimscope_model::{Gfp, Policy};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// Capacity of a world (fixed-size arrays keep `World` allocation-free).
/// 20 tasks: eight writers on a queue-depth-8 daemon, its eight handler
/// threads, the flusher and kswapd (`bench/check-scale`).
pub const MAX_TASKS: usize = 20;
pub const MAX_FS: usize = 8;
pub const MAX_LOCKS: usize = 16;
pub const MAX_BUFIO: usize = 4;
pub const MAX_DEVICES: usize = 16;
pub const MAX_PAGES: u32 = 60_000;

/// A scenario error: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub origin: String,
    pub line: usize,
    pub col: usize,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.origin, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut off = offset.min(src.len());
    while off > 0 && !src.is_char_boundary(off) {
        off -= 1;
    }
    let before = &src[..off];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// Builds errors pointing into one source text.
pub(crate) struct Errs<'a> {
    pub origin: &'a str,
    pub src: &'a str,
}

impl Errs<'_> {
    pub fn at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, col) = line_col(self.src, span.start);
        ScenarioError {
            origin: self.origin.to_string(),
            line,
            col,
            span: Some(span),
            message: message.into(),
        }
    }
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMemory {
    pages: Option<u16>,
    free: u16,
    min: u16,
    low: Option<u16>,
    high: Option<u16>,
    batch: Option<u16>,
    #[serde(default)]
    kswapd: bool,
    #[serde(default)]
    oom_killer: bool,
    #[serde(default)]
    anon: u16,
    swap: Option<Spanned<String>>,
    #[serde(default)]
    swap_pages: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoop {
    name: Spanned<String>,
    file: Spanned<String>,
    #[serde(default)]
    noio: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDm {
    name: Spanned<String>,
    target: Spanned<String>,
    lower: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    name: Spanned<String>,
    kind: Spanned<String>,
    process: Option<String>,
    file: Spanned<String>,
    queue_depth: Option<Spanned<u8>>,
    /// The daemon called `prctl(PR_SET_IO_FLUSHER, 1)` at startup.
    io_flusher: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFs {
    name: Spanned<String>,
    #[serde(rename = "type")]
    fstype: Option<String>,
    dev: Spanned<String>,
    #[serde(default)]
    clean: u16,
    #[serde(default)]
    dirty: u16,
    #[serde(default)]
    inodes: u16,
    dirty_inodes: Option<Spanned<u16>>,
    #[serde(default)]
    write_locks: Vec<Spanned<String>>,
    #[serde(default)]
    shrinker_locks: Vec<Spanned<String>>,
    write_gfp: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBufio {
    name: Spanned<String>,
    dev: Spanned<String>,
    gate: Option<Spanned<String>>,
    alloc: Option<Spanned<String>>,
    #[serde(default)]
    clean: u8,
    #[serde(default)]
    dirty: u8,
    #[serde(default)]
    reserved: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    name: Spanned<String>,
    fs: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
    program: Spanned<Vec<Spanned<String>>>,
}

/// What the program parser needs of a `[[task]]` table.
pub(crate) struct RawTaskView<'a> {
    pub name: &'a str,
    pub name_span: Range<usize>,
    pub program: &'a [Spanned<String>],
    pub program_span: Range<usize>,
}

/// Memory: pages, watermarks, kswapd, the OOM killer, anonymous memory and swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub pages: u16,
    pub free: u16,
    pub min: u16,
    pub low: u16,
    pub high: u16,
    /// Pages one reclaim pass frees from one source (SWAP_CLUSTER_MAX, scaled down).
    pub batch: u16,
    pub kswapd: bool,
    pub oom_killer: bool,
    pub anon: u16,
    pub swap_dev: Option<usize>,
    pub swap_pages: u16,
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
    /// A userspace process (tcmu-runner, FUSE, ublk, NBD) doing pread/pwrite on `fs`.
    Daemon {
        kind: String,
        process: String,
        fs: usize,
        file: String,
        queue_depth: u8,
        /// Called `prctl(PR_SET_IO_FLUSHER, 1)`: PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE.
        io_flusher: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub kind: DevKind,
}

/// A mounted filesystem (superblock) and its caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fs {
    pub name: String,
    pub fstype: String,
    pub dev: usize,
    pub clean: u16,
    pub dirty: u16,
    /// Objects its superblock shrinker can free (dentries, inodes), a page each.
    pub inodes: u16,
    /// Of those, inodes whose reclaim writes to the fs's device and waits.
    pub dirty_inodes: u16,
    /// Locks a buffered write takes (the journal).
    pub write_locks: Vec<usize>,
    /// Locks the superblock shrinker needs to evict inodes.
    pub shrinker_locks: Vec<usize>,
    /// The mask page-cache allocations of a write use.
    pub write_gfp: Gfp,
}

/// A dm-bufio client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bufio {
    pub name: String,
    pub dev: usize,
    pub gate: BufioGate,
    pub alloc: BufioAlloc,
    pub clean: u8,
    pub dirty: u8,
    pub reserved: u8,
    /// Index of its `dm_bufio_lock` in [`Scenario::locks`].
    pub lock: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    pub name: String,
    /// The filesystem the task works in (sb-context needs it).
    pub fs: Option<usize>,
    /// A scope around the whole program (`--set TASK.scope=nofs`).
    pub scope: Option<Scope>,
    /// Run the whole program this many times (`--set TASK.repeat=N`).
    pub repeat: u8,
    pub program: Vec<Stmt>,
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
    pub tasks: Vec<TaskSpec>,
    pub vmalloc: VmallocMode,
}

fn parse_gate(s: &str) -> Option<BufioGate> {
    BufioGate::parse(s)
}

fn parse_alloc(s: &str) -> Option<BufioAlloc> {
    match s {
        "noio-under-lock" => Some(BufioAlloc::NoioUnderLock),
        "nowait-then-noio" => Some(BufioAlloc::NowaitThenNoio),
        _ => None,
    }
}

fn parse_vmalloc(s: &str) -> Option<VmallocMode> {
    match s {
        "legacy" => Some(VmallocMode::Legacy),
        "modern" => Some(VmallocMode::Modern),
        _ => None,
    }
}

pub fn alloc_name(a: BufioAlloc) -> &'static str {
    match a {
        BufioAlloc::NoioUnderLock => "noio-under-lock",
        BufioAlloc::NowaitThenNoio => "nowait-then-noio",
    }
}

pub fn parse_gfp(text: &str) -> Result<Gfp, (Range<usize>, String)> {
    let expr = reclaimscope_model::gfp::parse_expr(text).map_err(|e| (e.span, e.message))?;
    if let Some((name, span)) = expr.unknown_idents().into_iter().next() {
        let hint = reclaimscope_model::gfp::suggest(&name)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err((span, format!("unknown gfp flag `{name}`{hint}")));
    }
    expr.value()
        .is_exact()
        .ok_or_else(|| (0..text.len(), "gfp expression has no exact value".into()))
}

/// Byte offset of a TOML string value's first character, when the value
/// appears verbatim between the quotes (no escapes): lets program errors
/// point at the exact column.
pub(crate) fn string_body_offset(src: &str, span: &Range<usize>, value: &str) -> Option<usize> {
    let raw = src.get(span.clone())?;
    let q = raw.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    (raw.get(1..raw.len().saturating_sub(1)) == Some(value)).then_some(span.start + 1)
}

struct Names<'a> {
    map: HashMap<String, (&'static str, usize)>,
    e: &'a Errs<'a>,
}

impl<'a> Names<'a> {
    fn add(
        &mut self,
        n: &Spanned<String>,
        kind: &'static str,
        idx: usize,
    ) -> Result<(), ScenarioError> {
        let name = n.get_ref();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(self.e.at(n.span(), format!("bad name `{name}`")));
        }
        if let Some((k, _)) = self.map.insert(name.clone(), (kind, idx)) {
            return Err(self
                .e
                .at(n.span(), format!("`{name}` is already defined (as a {k})")));
        }
        Ok(())
    }
    fn get(
        &self,
        n: &Spanned<String>,
        want: &[&'static str],
    ) -> Result<(&'static str, usize), ScenarioError> {
        match self.map.get(n.get_ref()) {
            Some(&(k, i)) if want.contains(&k) => Ok((k, i)),
            Some(&(k, _)) => Err(self.e.at(
                n.span(),
                format!(
                    "`{}` is a {k}, expected a {}",
                    n.get_ref(),
                    want.join(" or ")
                ),
            )),
            None => Err(self.e.at(
                n.span(),
                format!("unknown {} `{}`", want.join(" or "), n.get_ref()),
            )),
        }
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
        let raw: RawScenario = toml::from_str(src).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            e.at(span, err.message().to_string())
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

    /// `--kernel X.Y`: every history-dependent parameter as release X.Y had it.
    pub fn apply_kernel(&mut self, v: KernelVersion) {
        let p = KernelParams::for_version(v);
        for b in &mut self.bufios {
            b.gate = p.bufio_gate;
            b.alloc = p.bufio_alloc;
        }
        for d in &mut self.devices {
            if let DevKind::Loop { noio, .. } = &mut d.kind {
                *noio = p.loop_noio;
            }
        }
        self.vmalloc = p.vmalloc;
    }

    /// The CLI's `--kernel X.Y` then every `--set KEY=VALUE`, in order:
    /// shared by `run`, `check` and `compare`.
    pub fn apply_overrides(
        &mut self,
        kernel: Option<&str>,
        sets: &[String],
    ) -> Result<(), ScenarioError> {
        if let Some(k) = kernel {
            let v = KernelVersion::parse(k).map_err(|m| ScenarioError {
                origin: "--kernel".into(),
                line: 1,
                col: 1,
                span: Some(0..k.len().max(1)),
                message: m,
            })?;
            self.apply_kernel(v);
        }
        for kv in sets {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(ScenarioError {
                    origin: "--set".into(),
                    line: 1,
                    col: 1,
                    span: Some(0..kv.len().max(1)),
                    message: format!("`{kv}` should be KEY=VALUE"),
                });
            };
            self.set(k.trim(), v.trim())?;
        }
        Ok(())
    }

    /// `--set KEY=VALUE`: override one parameter. Keys: `vmalloc`,
    /// `memory.FIELD`, `bufio.FIELD` / `loop.noio` (every client / loop
    /// device), `NAME.FIELD` for a named bufio client, loop, daemon,
    /// filesystem or task.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ScenarioError> {
        let before = self.clone();
        self.set_one(key, value)?;
        let total = self.total_pages();
        if total > MAX_PAGES {
            *self = before;
            return Err(ScenarioError {
                origin: "--set".into(),
                line: 1,
                col: key.len() + 2,
                span: Some(key.len() + 1..key.len() + 1 + value.len().max(1)),
                message: format!("`{key}={value}` makes {total} pages; at most {MAX_PAGES}"),
            });
        }
        Ok(())
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

    fn set_one(&mut self, key: &str, value: &str) -> Result<(), ScenarioError> {
        let arg = format!("{key}={value}");
        let err = |at: usize, len: usize, msg: String| ScenarioError {
            origin: "--set".into(),
            line: 1,
            col: at + 1,
            span: Some(at..at + len.max(1)),
            message: msg,
        };
        let vpos = key.len() + 1;
        let bad_value = |what: &str| {
            err(
                vpos,
                value.len(),
                format!("bad value `{value}` for `{key}`: expected {what}"),
            )
        };
        let num = |max: u32| -> Result<u32, ScenarioError> {
            value
                .parse::<u32>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| bad_value(&format!("a number up to {max}")))
        };
        let boolean = || match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad_value("true or false")),
        };
        let _ = &arg;
        if key == "vmalloc" {
            self.vmalloc = parse_vmalloc(value).ok_or_else(|| bad_value("legacy or modern"))?;
            return Ok(());
        }
        let Some((obj, field)) = key.split_once('.') else {
            return Err(err(0, key.len(), format!("unknown parameter `{key}`")));
        };
        let unknown_field = || {
            err(
                obj.len() + 1,
                field.len(),
                format!("unknown parameter `{key}`"),
            )
        };
        if obj == "memory" {
            let m = &mut self.memory;
            match field {
                "free" => m.free = num(u16::MAX as u32)? as u16,
                "min" => m.min = num(u16::MAX as u32)? as u16,
                "low" => m.low = num(u16::MAX as u32)? as u16,
                "high" => m.high = num(u16::MAX as u32)? as u16,
                "batch" => m.batch = num(255)?.max(1) as u16,
                "anon" => m.anon = num(u16::MAX as u32)? as u16,
                "swap_pages" => m.swap_pages = num(u16::MAX as u32)? as u16,
                "kswapd" => m.kswapd = boolean()?,
                "oom_killer" => m.oom_killer = boolean()?,
                _ => return Err(unknown_field()),
            }
            return Ok(());
        }
        let all_bufio = obj == "bufio";
        let bufio_idx: Vec<usize> = (0..self.bufios.len())
            .filter(|&i| all_bufio || self.bufios[i].name == obj)
            .collect();
        if !bufio_idx.is_empty() {
            for i in bufio_idx {
                let b = &mut self.bufios[i];
                match field {
                    "gate" => {
                        b.gate = parse_gate(value)
                            .ok_or_else(|| bad_value("io, fs, trylock or workqueue"))?
                    }
                    "alloc" => {
                        b.alloc = parse_alloc(value)
                            .ok_or_else(|| bad_value("noio-under-lock or nowait-then-noio"))?
                    }
                    "reserved" => b.reserved = num(255)? as u8,
                    "clean" => b.clean = num(255)? as u8,
                    "dirty" => b.dirty = num(255)? as u8,
                    _ => return Err(unknown_field()),
                }
            }
            return Ok(());
        }
        let all_loop = obj == "loop";
        let mut hit = false;
        for d in &mut self.devices {
            if !(d.name == obj || all_loop && matches!(d.kind, DevKind::Loop { .. })) {
                continue;
            }
            hit = true;
            match (&mut d.kind, field) {
                (DevKind::Loop { noio, .. }, "noio") => *noio = boolean()?,
                (DevKind::Daemon { queue_depth, .. }, "queue_depth") => {
                    *queue_depth = num(8)?.max(1) as u8
                }
                (DevKind::Daemon { io_flusher, .. }, "io_flusher") => *io_flusher = boolean()?,
                _ => return Err(unknown_field()),
            }
        }
        if hit {
            return Ok(());
        }
        if let Some(f) = self.fss.iter_mut().find(|f| f.name == obj) {
            match field {
                "clean" => f.clean = num(u16::MAX as u32)? as u16,
                "dirty" => f.dirty = num(u16::MAX as u32)? as u16,
                "inodes" => f.inodes = num(u16::MAX as u32)? as u16,
                "dirty_inodes" => f.dirty_inodes = (num(u16::MAX as u32)? as u16).min(f.inodes),
                "write_gfp" => {
                    f.write_gfp =
                        parse_gfp(value).map_err(|(s, m)| err(vpos + s.start, s.len(), m))?
                }
                _ => return Err(unknown_field()),
            }
            return Ok(());
        }
        let all_tasks = obj == "task";
        let mut hit = false;
        for t in self.tasks.iter_mut().filter(|t| all_tasks || t.name == obj) {
            hit = true;
            match field {
                "repeat" => t.repeat = num(100)?.max(1) as u8,
                "scope" => {
                    t.scope = match value {
                        "none" => None,
                        "nofs" => Some(Scope::Nofs),
                        "noio" => Some(Scope::Noio),
                        _ => return Err(bad_value("nofs, noio or none")),
                    }
                }
                _ => return Err(unknown_field()),
            }
        }
        if hit {
            return Ok(());
        }
        Err(err(
            0,
            obj.len(),
            format!(
                "unknown parameter `{key}`: no bufio client, loop, daemon, filesystem or task named `{obj}`"
            ),
        ))
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
                DevKind::Loop { fs, .. } | DevKind::Daemon { fs, .. } => {
                    return self.fs_depth(*fs).saturating_add(1);
                }
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
            DevKind::Loop { fs, .. } | DevKind::Daemon { fs, .. } => Some(*fs),
            _ => None,
        }
    }
}

fn check_span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

fn build(raw: RawScenario, e: &Errs) -> Result<Scenario, ScenarioError> {
    let mut names = Names {
        map: HashMap::new(),
        e,
    };
    // Devices first (all kinds share one index space), then fs, bufio, locks, tasks.
    let mut dev_names: Vec<&Spanned<String>> = Vec::new();
    for d in &raw.disk {
        dev_names.push(&d.name);
    }
    for d in &raw.loops {
        dev_names.push(&d.name);
    }
    for d in &raw.dm {
        dev_names.push(&d.name);
    }
    for d in &raw.daemon {
        dev_names.push(&d.name);
    }
    for (i, n) in dev_names.iter().enumerate() {
        names.add(n, "device", i)?;
    }
    for (i, f) in raw.fs.iter().enumerate() {
        names.add(&f.name, "filesystem", i)?;
    }
    for (i, b) in raw.bufio.iter().enumerate() {
        names.add(&b.name, "bufio client", i)?;
    }
    let mut locks: Vec<String> = Vec::new();
    for l in &raw.lock {
        names.add(&l.name, "lock", locks.len())?;
        locks.push(l.name.get_ref().clone());
    }
    for b in &raw.bufio {
        let lname = format!("{}.lock", b.name.get_ref());
        if names.map.contains_key(&lname) {
            return Err(e.at(
                b.name.span(),
                format!(
                    "`{lname}` is already defined; dm-bufio clients get their lock under that name"
                ),
            ));
        }
        names.map.insert(lname.clone(), ("lock", locks.len()));
        locks.push(lname);
    }
    for (i, t) in raw.task.iter().enumerate() {
        names.add(&t.name, "task", i)?;
    }
    let over = |what: &str, n: usize, max: usize, span: Range<usize>| {
        if n > max {
            Err(e.at(span, format!("too many {what}: {n} (at most {max})")))
        } else {
            Ok(())
        }
    };
    over(
        "devices",
        dev_names.len(),
        MAX_DEVICES,
        dev_names.last().map_or(0..0, |n| n.span()),
    )?;
    over(
        "filesystems",
        raw.fs.len(),
        MAX_FS,
        raw.fs.last().map_or(0..0, |f| f.name.span()),
    )?;
    over(
        "bufio clients",
        raw.bufio.len(),
        MAX_BUFIO,
        raw.bufio.last().map_or(0..0, |b| b.name.span()),
    )?;
    over(
        "locks",
        locks.len(),
        MAX_LOCKS,
        raw.lock.last().map_or(0..0, |l| l.name.span()),
    )?;

    let fs_of_file = |file: &Spanned<String>| -> Result<(usize, String), ScenarioError> {
        let text = file.get_ref();
        let (fs, path) = text.split_once(':').ok_or_else(|| {
            e.at(
                file.span(),
                format!("`{text}` should be FS:PATH, e.g. `ext4:/images/disk0.img`"),
            )
        })?;
        let sp = Spanned::new(file.span(), fs.to_string());
        let (_, i) = names.get(&sp, &["filesystem"])?;
        Ok((i, path.to_string()))
    };
    let mut devices = Vec::new();
    for d in &raw.disk {
        devices.push(Device {
            name: d.name.get_ref().clone(),
            kind: DevKind::Disk,
        });
    }
    for d in &raw.loops {
        let (fs, file) = fs_of_file(&d.file)?;
        devices.push(Device {
            name: d.name.get_ref().clone(),
            kind: DevKind::Loop {
                fs,
                file,
                noio: d.noio,
            },
        });
    }
    for d in &raw.dm {
        let target = d.target.get_ref();
        if !["zoned", "linear"].contains(&target.as_str()) {
            return Err(e.at(
                d.target.span(),
                format!("unknown dm target `{target}`; known: zoned, linear"),
            ));
        }
        let (_, lower) = names.get(&d.lower, &["device"])?;
        devices.push(Device {
            name: d.name.get_ref().clone(),
            kind: DevKind::Dm {
                target: target.clone(),
                lower,
            },
        });
    }
    for d in &raw.daemon {
        let kind = d.kind.get_ref();
        if !["tcmu", "fuse", "ublk", "nbd"].contains(&kind.as_str()) {
            return Err(e.at(
                d.kind.span(),
                format!("unknown daemon kind `{kind}`; known: tcmu, fuse, ublk, nbd"),
            ));
        }
        let (fs, file) = fs_of_file(&d.file)?;
        let qd = d.queue_depth.as_ref().map_or(1, |q| *q.get_ref());
        if let Some(q) = d
            .queue_depth
            .as_ref()
            .filter(|q| !(1..=8).contains(q.get_ref()))
        {
            return Err(e.at(check_span(q), "queue_depth must be 1..=8"));
        }
        let process = d.process.clone().unwrap_or_else(|| match kind.as_str() {
            "tcmu" => "tcmu-runner".into(),
            k => format!("{k}-daemon"),
        });
        devices.push(Device {
            name: d.name.get_ref().clone(),
            kind: DevKind::Daemon {
                kind: kind.clone(),
                process,
                fs,
                file,
                queue_depth: qd,
                io_flusher: d.io_flusher.unwrap_or(false),
            },
        });
    }
    let lock_ref = |n: &Spanned<String>| names.get(n, &["lock"]).map(|(_, i)| i);
    let mut fss = Vec::new();
    for f in &raw.fs {
        let (_, dev) = names.get(&f.dev, &["device"])?;
        let write_gfp = match &f.write_gfp {
            None => Gfp::KERNEL,
            Some(g) => gfp_at(e, g)?,
        };
        let dirty_inodes = f.dirty_inodes.as_ref().map_or(0, |d| *d.get_ref());
        if let Some(d) = f.dirty_inodes.as_ref().filter(|d| *d.get_ref() > f.inodes) {
            return Err(e.at(d.span(), "dirty_inodes cannot exceed inodes"));
        }
        fss.push(Fs {
            name: f.name.get_ref().clone(),
            fstype: f.fstype.clone().unwrap_or_else(|| "ext4".into()),
            dev,
            clean: f.clean,
            dirty: f.dirty,
            inodes: f.inodes,
            dirty_inodes,
            write_locks: f
                .write_locks
                .iter()
                .map(lock_ref)
                .collect::<Result<_, _>>()?,
            shrinker_locks: f
                .shrinker_locks
                .iter()
                .map(lock_ref)
                .collect::<Result<_, _>>()?,
            write_gfp,
        });
    }
    let mut bufios = Vec::new();
    for (i, b) in raw.bufio.iter().enumerate() {
        let (_, dev) = names.get(&b.dev, &["device"])?;
        let gate = match &b.gate {
            None => BufioGate::Workqueue,
            Some(g) => parse_gate(g.get_ref()).ok_or_else(|| {
                e.at(
                    g.span(),
                    format!(
                        "unknown bufio gate `{}`; known: io, fs, trylock, workqueue",
                        g.get_ref()
                    ),
                )
            })?,
        };
        let alloc = match &b.alloc {
            None => BufioAlloc::NowaitThenNoio,
            Some(a) => parse_alloc(a.get_ref()).ok_or_else(|| {
                e.at(
                    a.span(),
                    format!(
                        "unknown bufio alloc `{}`; known: noio-under-lock, nowait-then-noio",
                        a.get_ref()
                    ),
                )
            })?,
        };
        bufios.push(Bufio {
            name: b.name.get_ref().clone(),
            dev,
            gate,
            alloc,
            clean: b.clean,
            dirty: b.dirty,
            reserved: b.reserved,
            lock: raw.lock.len() + i,
        });
    }
    let m = &raw.memory;
    let swap_dev = match &m.swap {
        None => None,
        Some(s) => Some(names.get(s, &["device"])?.1),
    };
    let low = m.low.unwrap_or(m.min + m.min / 4);
    let high = m.high.unwrap_or(low + m.min / 4);
    if !(m.min <= low && low <= high) {
        return Err(e.at(0..0, "watermarks must satisfy min <= low <= high"));
    }
    let memory = Memory {
        pages: m.pages.unwrap_or(0),
        free: m.free,
        min: m.min,
        low,
        high,
        batch: m.batch.unwrap_or(2).max(1),
        kswapd: m.kswapd,
        oom_killer: m.oom_killer,
        anon: m.anon,
        swap_dev,
        swap_pages: m.swap_pages,
    };
    // Pages only move between free, caches and tasks: bounding the sum
    // bounds every counter of the world.
    let total: u32 = memory.free as u32
        + memory.anon as u32
        + raw
            .fs
            .iter()
            .map(|f| f.clean as u32 + f.dirty as u32 + f.inodes as u32)
            .sum::<u32>()
        + raw
            .bufio
            .iter()
            .map(|b| b.clean as u32 + b.dirty as u32)
            .sum::<u32>();
    if total > MAX_PAGES {
        return Err(e.at(
            0..0,
            format!("{total} pages in the scenario; at most {MAX_PAGES} (free + caches + anon)"),
        ));
    }
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
        Some(v) => parse_vmalloc(v.get_ref()).ok_or_else(|| {
            e.at(
                v.span(),
                format!(
                    "unknown vmalloc mode `{}`; known: legacy, modern",
                    v.get_ref()
                ),
            )
        })?,
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
        locks,
        tasks: Vec::new(),
        vmalloc,
    };
    check_stack(&sc, &dev_names, e)?;
    let servers: usize = sc
        .devices
        .iter()
        .map(|d| match d.kind {
            DevKind::Loop { .. } => 1,
            DevKind::Daemon { queue_depth, .. } => queue_depth as usize,
            _ => 0,
        })
        .sum();
    let actors = servers + 1 + usize::from(sc.memory.kswapd) + sc.bufios.len();
    if raw.task.len() + actors > MAX_TASKS {
        return Err(e.at(
            raw.task.last().map_or(0..0, |t| t.name.span()),
            format!("too many tasks: {} plus {actors} kernel workers and daemon threads (at most {MAX_TASKS})", raw.task.len()),
        ));
    }
    let mut tasks = Vec::new();
    for t in &raw.task {
        let fs = match &t.fs {
            None => None,
            Some(f) => Some(names.get(f, &["filesystem"])?.1),
        };
        let scope = match &t.scope {
            None => None,
            Some(s) => match s.get_ref().as_str() {
                "nofs" => Some(Scope::Nofs),
                "noio" => Some(Scope::Noio),
                "none" => None,
                other => {
                    return Err(e.at(
                        s.span(),
                        format!("unknown scope `{other}`; known: nofs, noio, none"),
                    ));
                }
            },
        };
        let lookup = |name: &str,
                      span: Range<usize>,
                      want: &[&'static str]|
         -> Result<(&'static str, usize), ScenarioError> {
            names.get(&Spanned::new(span, name.to_string()), want)
        };
        let view = RawTaskView {
            name: t.name.get_ref(),
            name_span: t.name.span(),
            program: t.program.get_ref(),
            program_span: t.program.span(),
        };
        let program = program::parse(&view, e, &lookup, &sc)?;
        tasks.push(TaskSpec {
            name: t.name.get_ref().clone(),
            fs,
            scope,
            repeat: 1,
            program,
        });
    }
    sc.tasks = tasks;
    Ok(sc)
}

fn gfp_at(e: &Errs, g: &Spanned<String>) -> Result<Gfp, ScenarioError> {
    parse_gfp(g.get_ref()).map_err(|(span, msg)| {
        let base = string_body_offset(e.src, &g.span(), g.get_ref());
        match base {
            Some(b) => e.at(b + span.start..b + span.end, msg),
            None => e.at(g.span(), msg),
        }
    })
}

/// The device stack must be a DAG: a loop/daemon over a file on a fs that
/// sits (through any number of layers) on that same device is a cycle.
fn check_stack(
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
            DevKind::Loop { fs, .. } | DevKind::Daemon { fs, .. } => Some(sc.fss[*fs].dev),
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
