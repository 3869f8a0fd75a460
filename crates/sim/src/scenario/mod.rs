//! Scenario files: a storage stack under memory pressure, written in TOML
//! for a kernel developer to read (see `docs/scenarios.md`). Loading
//! validates names, the device stack and every task program, and reports
//! errors with file, line and column.

use crate::program::{self, Stmt};

mod set;
mod validate;

use reclaimscope_model::history::{
    self, BufioAlloc, FactId, InodeReclaim, KernelParams, KernelVersion, LockKind, Release,
    VmallocMode,
};
use reclaimscope_model::reclaim::BufioGate;
use reclaimscope_model::task::Scope;
use reclaimscope_model::{Gfp, Policy};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
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

/// The first control character TOML forbids anywhere in a document (in
/// comments and strings alike): everything below U+0020 but tab, newline
/// and carriage return, and DEL.
fn control_char(src: &str) -> Option<(usize, char)> {
    src.char_indices()
        .find(|&(_, c)| (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}')
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
    free: Spanned<u16>,
    min: Spanned<u16>,
    low: Option<Spanned<u16>>,
    high: Option<Spanned<u16>>,
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
    /// The backing file (`transport = "file"`).
    file: Option<Spanned<String>>,
    /// `file` (pread/pwrite a backing file) or `socket` (forward over TCP:
    /// completion needs the peer, no lower device).
    transport: Option<Spanned<String>>,
    /// Ring depth (requests in flight).
    queue_depth: Option<Spanned<u8>>,
    /// Handler threads.
    threads: Option<Spanned<u8>>,
    /// The daemon called `prctl(PR_SET_IO_FLUSHER, 1)` at startup.
    io_flusher: Option<bool>,
    /// What a handler runs per write request (default `["pwrite"]`).
    serve: Option<Spanned<Vec<Spanned<String>>>>,
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
    /// A write waits for the device (FUSE without writeback_cache).
    #[serde(default)]
    write_through: bool,
    /// `write-and-wait` (default) or `skip-dirty`.
    inode_reclaim: Option<Spanned<String>>,
    /// Evicting an inode from reclaim takes `shrinker_locks` (default true).
    inactivate_in_reclaim: Option<bool>,
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
    /// `mutex` (default), `jbd2-handle`, `xfs-transaction`, `btrfs-transaction`.
    kind: Option<Spanned<String>>,
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
    /// A daemon's `serve` program: `Some(has a backing file)`.
    pub serve: Option<bool>,
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
    /// A buffered write sends the data to the fs's device and waits, its
    /// pages staying clean: FUSE without `writeback_cache`
    /// (`fuse_perform_write` -> `fuse_send_write_pages` waits for the reply).
    pub write_through: bool,
    /// What the superblock shrinker does with a dirty inode (`--kernel`
    /// sets it for XFS: write and wait before v5.9).
    pub inode_reclaim: InodeReclaim,
    /// Evicting an inode from reclaim does work that takes `shrinker_locks`
    /// (XFS inactivation before v5.14, ext4's jbd2 handle for an unlinked
    /// inode); false: that work is deferred to a worker.
    pub inactivate_in_reclaim: bool,
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
        if let Some((i, c)) = control_char(src) {
            return Err(e.at(
                i..i + c.len_utf8(),
                format!(
                    "control character U+{:04X} is not allowed in a scenario file (TOML allows tab, newline and carriage return; inside a string write it as \\u{:04X})",
                    c as u32, c as u32
                ),
            ));
        }
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
    let mut lock_kinds: Vec<LockKind> = Vec::new();
    for l in &raw.lock {
        names.add(&l.name, "lock", locks.len())?;
        locks.push(l.name.get_ref().clone());
        lock_kinds.push(match &l.kind {
            None => LockKind::Mutex,
            Some(k) => LockKind::parse(k.get_ref()).ok_or_else(|| {
                e.at(
                    k.span(),
                    format!(
                        "unknown lock kind `{}`; known: mutex, jbd2-handle, xfs-transaction, btrfs-transaction",
                        k.get_ref()
                    ),
                )
            })?,
        });
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
        lock_kinds.push(LockKind::Mutex);
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
        let transport = d
            .transport
            .as_ref()
            .map_or("file", |t| t.get_ref().as_str());
        let (fs, file) = match (transport, &d.file) {
            ("file", Some(f)) => {
                let (fs, file) = fs_of_file(f)?;
                (Some(fs), file)
            }
            ("file", None) => {
                return Err(e.at(
                    d.name.span(),
                    format!(
                        "daemon `{}` needs `file` (or `transport = \"socket\"`)",
                        d.name.get_ref()
                    ),
                ));
            }
            ("socket", None) => (None, String::new()),
            ("socket", Some(f)) => {
                return Err(e.at(f.span(), "a socket transport has no backing `file`"));
            }
            (other, _) => {
                return Err(e.at(
                    d.transport.as_ref().map_or(d.name.span(), check_span),
                    format!("unknown transport `{other}`; known: file, socket"),
                ));
            }
        };
        let qd = d.queue_depth.as_ref().map_or(1, |q| *q.get_ref());
        let threads = d.threads.as_ref().map_or(1, |q| *q.get_ref());
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
                threads,
                io_flusher: d.io_flusher.unwrap_or(false),
                serve: Vec::new(),
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
            write_through: f.write_through,
            inode_reclaim: match &f.inode_reclaim {
                None => InodeReclaim::WriteAndWait,
                Some(r) => InodeReclaim::parse(r.get_ref()).ok_or_else(|| {
                    e.at(
                        r.span(),
                        format!(
                            "unknown inode_reclaim `{}`; known: write-and-wait, skip-dirty",
                            r.get_ref()
                        ),
                    )
                })?,
            },
            inactivate_in_reclaim: f.inactivate_in_reclaim.unwrap_or(true),
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
    let min = *m.min.get_ref();
    let low = m
        .low
        .as_ref()
        .map_or(min.saturating_add(min / 4), |l| *l.get_ref());
    let high = m
        .high
        .as_ref()
        .map_or(low.saturating_add(min / 4), |h| *h.get_ref());
    let memory = Memory {
        pages: m.pages.unwrap_or(0),
        free: *m.free.get_ref(),
        min,
        low,
        high,
        batch: m.batch.unwrap_or(2).max(1),
        kswapd: m.kswapd,
        oom_killer: m.oom_killer,
        anon: m.anon,
        swap_dev,
        swap_pages: m.swap_pages,
    };
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
            serve: None,
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
    // Daemons' per-request programs (devices are indexed disks, loops, dm,
    // then daemons).
    let first_daemon = raw.disk.len() + raw.loops.len() + raw.dm.len();
    for (i, d) in raw.daemon.iter().enumerate() {
        let DevKind::Daemon { fs, .. } = &sc.devices[first_daemon + i].kind else {
            continue;
        };
        let has_file = fs.is_some();
        let serve = match &d.serve {
            None if has_file => vec![Stmt::Pwrite],
            None => vec![Stmt::Send { pages: 1 }],
            Some(lines) => {
                let lookup = |name: &str,
                              span: Range<usize>,
                              want: &[&'static str]|
                 -> Result<(&'static str, usize), ScenarioError> {
                    names.get(&Spanned::new(span, name.to_string()), want)
                };
                let view = RawTaskView {
                    name: d.name.get_ref(),
                    name_span: d.name.span(),
                    program: lines.get_ref(),
                    program_span: lines.span(),
                    serve: Some(has_file),
                };
                program::parse(&view, e, &lookup, &sc)?
            }
        };
        if let DevKind::Daemon { serve: s, .. } = &mut sc.devices[first_daemon + i].kind {
            *s = serve;
        }
    }
    // Pages only move between free, caches and tasks: bounding the sum
    // bounds every counter of the world.
    sc.validate().map_err(|inv| {
        let n_before_daemons = raw.disk.len() + raw.loops.len() + raw.dm.len();
        let span = match inv.field {
            Field::Watermarks => {
                // Point at the first key out of order.
                let (min, low) = (sc.memory.min, sc.memory.low);
                match (&m.low, &m.high) {
                    (Some(l), _) if min > low => l.span(),
                    (_, Some(h)) => h.span(),
                    (Some(l), None) => l.span(),
                    (None, None) => m.min.span(),
                }
            }
            Field::QueueDepth(d) => {
                let raw_d = &raw.daemon[d - n_before_daemons];
                raw_d
                    .queue_depth
                    .as_ref()
                    .map_or(raw_d.name.span(), check_span)
            }
            Field::Threads(d) => {
                let raw_d = &raw.daemon[d - n_before_daemons];
                raw_d.threads.as_ref().map_or(raw_d.name.span(), check_span)
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
