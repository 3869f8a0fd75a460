//! Wait-for cycles and the numbered story, in kernel terms.

use crate::scenario::DevKind;
use crate::sim::{Choice, ChoiceKind, Dest, Kind, Op, Sim, SiteKind, SrcKind};
use crate::world::*;
use reclaimscope_model::Gfp;
use reclaimscope_model::reclaim::{BufioGate, LockMode, Reclaim};
use serde::Serialize;
use std::fmt::Write;

/// What a blocked task waits for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Resource {
    Lock {
        lock: u8,
    },
    /// Completion of a bio queued on (or being served by) a device.
    Bio {
        dev: u8,
    },
    /// Free memory that nothing may reclaim from this context.
    Memory,
    /// A reserved buffer of a dm-bufio client.
    Reserve {
        bufio: u8,
    },
}

/// One edge of the wait-for graph: `task` waits for `waits_for`, which only
/// `held_by` can release.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct WaitEdge {
    pub task: u8,
    pub waits_for: Resource,
    pub held_by: u8,
}

impl Sim {
    /// What task `t` is blocked on in `w`, and who could release it.
    pub fn blocked_on(&self, w: &World, t: usize) -> Option<(Resource, Vec<u8>)> {
        let task = &w.tasks[t];
        let lock = |l: u8| {
            let o = w.locks[l as usize];
            (o != NONE).then(|| (Resource::Lock { lock: l }, vec![o]))
        };
        match task.st {
            ST_READY => match self.ops[task.pc as usize] {
                Op::Lock(l) => lock(l),
                Op::Alloc(_) => {
                    let mut c = Vec::new();
                    self.choices(w, &mut c);
                    if c.iter()
                        .any(|c| c.task as usize == t && c.kind != ChoiceKind::Complete)
                    {
                        return None;
                    }
                    let holders = (0..w.nt)
                        .filter(|&u| matches!(w.tasks[u as usize].st, ST_REC | ST_REC_IO))
                        .collect();
                    Some((Resource::Memory, holders))
                }
                Op::TakeReserve(b, _) => {
                    let blocked = task.bits & B_FAILED != 0
                        && w.bufio[b as usize].reserve == 0
                        && self.sc.bufios[b as usize].reserved > 0;
                    blocked.then(|| {
                        let h = (0..w.nt)
                            .filter(|&u| w.tasks[u as usize].bits & B_RESERVE != 0)
                            .collect();
                        (Resource::Reserve { bufio: b }, h)
                    })
                }
                _ => None,
            },
            ST_REC => lock(self.srcs[task.rsrc as usize].locks[task.rstep as usize]),
            ST_REC_IO | ST_OP_IO => match task.bio_st {
                BIO_QUEUED => {
                    let d = task.bio_dev;
                    Some((
                        Resource::Bio { dev: d },
                        self.devs[d as usize].servers.clone(),
                    ))
                }
                BIO_SERVING => {
                    let s = (0..w.nt).find(|&s| {
                        w.tasks[s as usize].serving as usize == t
                            && w.tasks[s as usize].st != ST_IDLE
                    });
                    Some((Resource::Bio { dev: task.bio_dev }, s.into_iter().collect()))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The wait-for cycle of a blocked world: task -> lock / bio / memory -> task.
    pub fn wait_for_cycle(&self, w: &World) -> Option<Vec<WaitEdge>> {
        let edges: Vec<Option<(Resource, Vec<u8>)>> =
            (0..w.nt as usize).map(|t| self.blocked_on(w, t)).collect();
        for start in 0..w.nt as usize {
            let mut path: Vec<WaitEdge> = Vec::new();
            if let Some(c) = dfs(&edges, start, &mut path, &mut 0u32) {
                return Some(c);
            }
        }
        None
    }

    pub fn resource_name(&self, r: &Resource) -> String {
        match *r {
            Resource::Lock { lock } => self.lock_name(lock as usize),
            Resource::Bio { dev } => format!("bio@{}", self.sc.devices[dev as usize].name),
            Resource::Memory => "memory".into(),
            Resource::Reserve { bufio } => {
                format!("reserved buffer of {}", self.sc.bufios[bufio as usize].name)
            }
        }
    }

    fn lock_name(&self, l: usize) -> String {
        self.sc.locks[l].clone()
    }

    /// `task -> resource -> holder` for one edge.
    pub fn edge_text(&self, e: &WaitEdge) -> String {
        format!(
            "{} -> {} -> {}",
            self.task_name(e.task as usize),
            self.resource_name(&e.waits_for),
            self.task_name(e.held_by as usize)
        )
    }

    /// The cycle as one line: `T -> journal(a) -> loop0 worker -> bio@loop0 -> T`.
    pub fn cycle_text(&self, cycle: &[WaitEdge]) -> String {
        let mut s = String::new();
        for e in cycle {
            let _ = write!(
                s,
                "{} -> {} -> ",
                self.task_name(e.task as usize),
                self.resource_name(&e.waits_for)
            );
        }
        if let Some(e) = cycle.last() {
            s.push_str(self.task_name(e.held_by as usize));
        }
        s
    }

    /// Why each unfinished task in a final world cannot move, one line each.
    pub fn blocked_lines(&self, w: &World) -> Vec<String> {
        let mut out = Vec::new();
        for t in 0..w.nt as usize {
            let Some((r, holders)) = self.blocked_on(w, t) else {
                continue;
            };
            let name = self.task_name(t);
            let who = holders
                .iter()
                .map(|&h| self.task_name(h as usize))
                .collect::<Vec<_>>()
                .join(", ");
            let line = match r {
                Resource::Lock { lock } => format!(
                    "{name} waits for {}, held by {who}",
                    self.lock_name(lock as usize)
                ),
                Resource::Bio { dev } => {
                    let d = &self.sc.devices[dev as usize].name;
                    if holders.is_empty() {
                        format!("{name} waits for its bio on {d}, which nobody serves")
                    } else if w.tasks[t].bio_st == BIO_SERVING {
                        format!("{name} waits for its bio on {d}, being served by {who}")
                    } else {
                        format!("{name} waits for its bio on {d}, queued for {who} (busy)")
                    }
                }
                Resource::Memory => {
                    let what = match self.ops[w.tasks[t].pc as usize] {
                        Op::Alloc(site) => self.alloc_text(w, t, site),
                        _ => "an allocation".into(),
                    };
                    if who.is_empty() {
                        format!(
                            "{name}: {what} loops in the slow path: nothing it may reclaim and no OOM kill ({} free pages, min watermark {})",
                            w.free, self.sc.memory.min
                        )
                    } else {
                        format!("{name}: {what} waits for memory that {who} is reclaiming")
                    }
                }
                Resource::Reserve { bufio } => {
                    format!(
                        "{name} waits for a reserved buffer of {}",
                        self.sc.bufios[bufio as usize].name
                    )
                }
            };
            out.push(line);
        }
        out
    }

    /// The reason a `Stuck` world is stuck.
    pub fn stuck_reason(&self, w: &World) -> String {
        let lines = self.blocked_lines(w);
        if lines.is_empty() {
            "no task can move".into()
        } else {
            lines.join("; ")
        }
    }

    pub(crate) fn alloc_text(&self, w: &World, t: usize, site: u16) -> String {
        let s = &self.sites[site as usize];
        let ctx = self.site_ctx(w, t, site).ctx;
        let call = match s.kind {
            SiteKind::Kmalloc if s.order > 0 => format!("alloc_pages(order {})", s.order),
            // A user page fault allocates GFP_HIGHUSER_MOVABLE.
            SiteKind::Kmalloc if s.gfp == reclaimscope_model::Gfp::HIGHUSER_MOVABLE => {
                "anonymous page fault".to_string()
            }
            SiteKind::Kmalloc => "kmalloc".to_string(),
            SiteKind::Skb => "sendmsg skb".to_string(),
            SiteKind::PageCache(f) => format!("page cache on {}", self.sc.fss[f as usize].name),
            SiteKind::VmallocData => "__vmalloc data pages".into(),
            SiteKind::VmallocPt => "__vmalloc page tables".into(),
            SiteKind::Bufio(b) => {
                format!("dm-bufio buffer for {}", self.sc.bufios[b as usize].name)
            }
        };
        if ctx.gfp == s.gfp {
            format!("{call}({})", s.gfp)
        } else {
            format!("{call}({}, effective {})", s.gfp, ctx.gfp)
        }
    }

    /// `dm-zoned` for a dm-zoned device: what forwards its bios.
    fn forwarder(&self, d: u8) -> String {
        match &self.sc.devices[d as usize].kind {
            DevKind::Dm { target, .. } => format!("dm-{target}"),
            _ => "the dm stack".into(),
        }
    }

    fn dev_name(&self, d: u8) -> &str {
        &self.sc.devices[d as usize].name
    }

    /// `lock_blocked`: the step ends waiting for the source's lock, so the
    /// text says what reclaim needs the lock for rather than that it took it.
    fn reclaim_text(
        &self,
        w: &World,
        s: usize,
        r: Reclaim,
        shrinker_gfp: Gfp,
        lock_blocked: bool,
    ) -> String {
        let info = &self.srcs[s];
        match (info.kind, r) {
            (SrcKind::Clean(f), _) => {
                format!("drops clean page cache of {}", self.sc.fss[f as usize].name)
            }
            (SrcKind::Anon, _) => format!(
                "swaps anonymous pages out to {}",
                info.io_dev.map_or("swap", |d| self.dev_name(d))
            ),
            (SrcKind::Sb(f), _) => {
                let fs = &self.sc.fss[f as usize];
                let mut s = format!(
                    "calls the superblock shrinker of {} (__GFP_FS is set), which evicts inodes",
                    fs.name
                );
                if !info.locks.is_empty() {
                    let names: Vec<String> = info
                        .locks
                        .iter()
                        .map(|&l| self.lock_name(l as usize))
                        .collect();
                    let _ = write!(s, " under {}", names.join(", "));
                }
                if w.fs[f as usize].dirty_inodes > 0 && self.sb_writes(f as usize) {
                    let _ = write!(
                        s,
                        " and writes dirty inodes to {}",
                        self.dev_name(fs.dev as u8)
                    );
                }
                s
            }
            (SrcKind::Bufio(b), Reclaim::Bufio { lock, write_dirty }) => {
                let bufio = &self.sc.bufios[b as usize];
                let (bit, name) = match bufio.gate {
                    BufioGate::Io => (Gfp::IO, "__GFP_IO"),
                    _ => (Gfp::FS, "__GFP_FS"),
                };
                let sees = if shrinker_gfp.contains(bit) {
                    "sees"
                } else {
                    "does not see"
                };
                let gate = match bufio.gate {
                    BufioGate::Io | BufioGate::Fs => format!(
                        "gate `{}` {sees} {name} in {shrinker_gfp}, ",
                        bufio.gate.name()
                    ),
                    g => format!("gate `{}`, ", g.name()),
                };
                let dirty = w.bufio[b as usize].dirty;
                let (write, evict) = if lock_blocked {
                    ("write back", "evict clean buffers")
                } else {
                    ("writes back", "evicts clean buffers")
                };
                let what = if write_dirty && dirty > 0 {
                    format!(
                        "{write} {dirty} dirty buffer{} to {}",
                        plural(dirty as u16),
                        self.dev_name(bufio.dev as u8)
                    )
                } else {
                    evict.into()
                };
                let lock_name = self.lock_name(bufio.lock);
                match (lock_blocked, lock) {
                    (true, _) => format!(
                        "calls the dm-bufio shrinker of {}: {gate}needs {lock_name} to {what}",
                        bufio.name
                    ),
                    (false, LockMode::Blocking) => format!(
                        "calls the dm-bufio shrinker of {}: {gate}takes {lock_name}, {what}",
                        bufio.name
                    ),
                    (false, LockMode::Trylock) => format!(
                        "calls the dm-bufio shrinker of {}: {gate}trylocks {lock_name}, {what}",
                        bufio.name
                    ),
                }
            }
            (SrcKind::Bufio(b), _) => format!(
                "calls the dm-bufio shrinker of {}, which queues shrink work for dm_bufio_wq and returns",
                self.sc.bufios[b as usize].name
            ),
        }
    }

    /// How a step ended for task `t`: waiting on a lock or a bio, or pages freed.
    fn outcome(&self, w: &World, n: &World, t: usize) -> String {
        let task = &n.tasks[t];
        match task.st {
            ST_REC => {
                let l = self.srcs[task.rsrc as usize].locks[task.rstep as usize];
                let o = n.locks[l as usize];
                format!(
                    "; waits for {}, held by {}",
                    self.lock_name(l as usize),
                    self.task_name(o as usize)
                )
            }
            ST_REC_IO | ST_OP_IO if task.bio_st == BIO_QUEUED => {
                let first = match (task.st, self.ops.get(task.pc as usize)) {
                    (ST_REC_IO, _) => self.srcs[task.rsrc as usize].submit_dev,
                    (_, Some(Op::Writeback { fs, .. })) => Some(self.fs_dev[*fs as usize]),
                    (_, Some(Op::Submit { dev, .. })) => Some(*dev),
                    _ => None,
                }
                .unwrap_or(task.bio_dev);
                let via = if first == task.bio_dev {
                    self.dev_name(first).to_string()
                } else {
                    format!(
                        "{}, which {} forwards to {},",
                        self.dev_name(first),
                        self.forwarder(first),
                        self.dev_name(task.bio_dev)
                    )
                };
                format!(
                    "; submits a bio of {} page{} to {via} and waits",
                    task.bio_pages,
                    plural(task.bio_pages as u16)
                )
            }
            _ if n.free > w.free => format!(
                "; frees {} page{}",
                n.free - w.free,
                plural(n.free - w.free)
            ),
            _ => String::new(),
        }
    }

    /// One line of the story for choice `c` taken in `w`, in kernel terms.
    pub fn describe(&self, w: &World, c: Choice) -> String {
        let n = self.step(w, c);
        let t = c.task as usize;
        match c.kind {
            ChoiceKind::Complete => {
                let j = c.arg as usize;
                format!(
                    "{}: completes the bio of {}",
                    self.dev_name(c.task),
                    self.task_name(j)
                )
            }
            ChoiceKind::Serve => {
                let j = c.arg as usize;
                let sub = &w.tasks[j];
                let Kind::Server { dev, .. } = self.tasks[t].kind else {
                    return String::new();
                };
                let write = sub.bio_flags & BIO_WRITE != 0;
                let rw = if write { "write" } else { "read" };
                let (fs, file, io) = match &self.sc.devices[dev as usize].kind {
                    DevKind::Loop { fs, file, .. } => (
                        Some(*fs),
                        file.as_str(),
                        if write {
                            "vfs_iter_write()"
                        } else {
                            "vfs_iter_read()"
                        },
                    ),
                    DevKind::Daemon {
                        fs, file, serve, ..
                    } => (
                        *fs,
                        file.as_str(),
                        match (write, fs, &serve[..]) {
                            (true, Some(_), [crate::program::Stmt::Pwrite]) => "pwrite()",
                            (true, _, _) => "runs its request handler",
                            (false, Some(_), _) => "pread()",
                            (false, None, _) => "takes the reply from its peer",
                        },
                    ),
                    _ => return String::new(),
                };
                let on = match (fs, io) {
                    (Some(fs), "pwrite()" | "pread()" | "vfs_iter_write()" | "vfs_iter_read()") => {
                        format!(" on {}:{file}", self.sc.fss[fs].name)
                    }
                    _ => String::new(),
                };
                let mut s = format!(
                    "{}: takes the {rw} bio ({} page{}) {} submitted to {} and {}{io}{on}",
                    self.task_name(t),
                    sub.bio_pages,
                    plural(sub.bio_pages as u16),
                    self.task_name(j),
                    self.dev_name(dev),
                    if io.ends_with("()") { "does " } else { "" },
                );
                // "[PATCH 0/6] Overhaul memalloc_no*" (dm-devel, 2020-06-29)'s step 5: the server enters the lower filesystem
                // and waits there for what the submitter holds.
                if let Some((Resource::Lock { lock }, holders)) = self.blocked_on(&n, t) {
                    let who: Vec<&str> = holders
                        .iter()
                        .map(|&h| self.task_name(h as usize))
                        .collect();
                    let _ = write!(
                        s,
                        ", which enters {} and waits for {}, held by {}",
                        fs.map_or("its code", |f| self.sc.fss[f].name.as_str()),
                        self.lock_name(lock as usize),
                        who.join(", ")
                    );
                }
                s
            }
            ChoiceKind::Flush => {
                let f = c.arg as usize;
                let fs = &self.sc.fss[f];
                let mut s = format!(
                    "flusher: writes back {} dirty page{} of {}: a bio to {}",
                    n.tasks[t].bio_pages,
                    plural(n.tasks[t].bio_pages as u16),
                    fs.name,
                    self.dev_name(fs.dev as u8)
                );
                let resolved = self.devs[fs.dev].resolved;
                if resolved as usize != fs.dev {
                    let _ = write!(
                        s,
                        ", which {} forwards to {}",
                        self.forwarder(fs.dev as u8),
                        self.dev_name(resolved)
                    );
                }
                s
            }
            ChoiceKind::Reclaim => {
                let s = c.arg as usize;
                let Some(ctx) = self.reclaim_ctx(w, t) else {
                    return String::new();
                };
                let Some(r) = self.touch(w, t, &ctx, s) else {
                    return String::new();
                };
                let lock_blocked =
                    matches!(self.blocked_on(&n, t), Some((Resource::Lock { .. }, _)));
                let what = self.reclaim_text(w, s, r, ctx.shrinker_gfp, lock_blocked);
                let head = if self.tasks[t].kind == Kind::Kswapd {
                    "kswapd: background reclaim (GFP_KERNEL)".to_string()
                } else {
                    format!("{}: direct reclaim ({})", self.task_name(t), ctx.gfp)
                };
                format!("{head} {what}{}", self.outcome(w, &n, t))
            }
            ChoiceKind::Run => self.describe_run(w, &n, t),
        }
    }

    fn describe_run(&self, w: &World, n: &World, t: usize) -> String {
        let name = self.task_name(t);
        let task = &w.tasks[t];
        match task.st {
            ST_IDLE => match self.tasks[t].kind {
                Kind::Kswapd => format!(
                    "kswapd: free pages at {} (high {}): goes back to sleep",
                    w.free, self.sc.memory.high
                ),
                Kind::BufioWorker(_) => format!(
                    "{name}: runs the queued shrink work{}",
                    self.outcome(w, n, t)
                ),
                _ => String::new(),
            },
            ST_REC => {
                let l = self.srcs[task.rsrc as usize].locks[task.rstep as usize];
                format!(
                    "{name}: takes {} for reclaim{}",
                    self.lock_name(l as usize),
                    self.outcome(w, n, t)
                )
            }
            ST_REC_IO => format!(
                "{name}: reclaim I/O done, {} gives back {} page{}",
                self.source_name(task.rsrc as usize),
                n.free.saturating_sub(w.free),
                plural(n.free.saturating_sub(w.free))
            ),
            ST_OP_IO => format!(
                "{name}: its bio to {} completed",
                self.dev_name(task.bio_dev)
            ),
            ST_READY => self.describe_op(w, n, t),
            _ => String::new(),
        }
    }

    fn describe_op(&self, w: &World, n: &World, t: usize) -> String {
        let name = self.task_name(t);
        let task = &w.tasks[t];
        match self.ops[task.pc as usize] {
            Op::Lock(l) => format!("{name}: takes {}", self.lock_name(l as usize)),
            Op::Unlock(l) => format!("{name}: releases {}", self.lock_name(l as usize)),
            Op::Alloc(site) => {
                let what = self.alloc_text(w, t, site);
                let pages = self.site_pages(w, t, site);
                let (before, after) = (&w.tasks[t], &n.tasks[t]);
                if after.bits & B_RECLAIMING != 0 && before.bits & B_RECLAIMING == 0 {
                    // Known only at sites that give up after one round
                    // (`B_ROUND` is kept nowhere else).
                    let again = if before.bits & B_ROUND != 0 {
                        "still "
                    } else {
                        ""
                    };
                    return format!(
                        "{name}: {what} {again}finds {} free page{}, not above the min watermark ({}), and enters direct reclaim",
                        w.free,
                        plural(w.free),
                        self.sc.memory.min
                    );
                }
                if let Some(v) = (0..n.nt as usize)
                    .find(|&v| n.tasks[v].st == ST_KILLED && w.tasks[v].st != ST_KILLED)
                {
                    return format!(
                        "{name}: {what}: nothing reclaimable, the OOM killer kills {}",
                        self.task_name(v)
                    );
                }
                if after.bits & B_FAILED == 0 && after.pc != before.pc || after.st != ST_READY {
                    let dest = match self.sites[site as usize].dest {
                        Dest::Dirty(f) => format!(", dirtied in {}", self.sc.fss[f as usize].name),
                        _ => String::new(),
                    };
                    return format!("{name}: {what} gets {pages} page{}{dest}", plural(pages));
                }
                let sc = self.site_ctx(w, t, site);
                let why = if before.bits & B_RECLAIMING != 0 {
                    "nothing it may reclaim"
                } else if !sc.direct {
                    "it may not enter direct reclaim"
                } else {
                    "one reclaim round did not free enough (__GFP_NORETRY or costly order)"
                };
                format!("{name}: {what} fails ({why}) and returns NULL")
            }
            Op::Free(p) => format!("{name}: frees {p} page{}", plural(p as u16)),
            Op::Save { flags, .. } => format!("{name}: {}()", scope_fn(flags, "save")),
            Op::Restore { flags, .. } => format!("{name}: {}()", scope_fn(flags, "restore")),
            Op::Prctl => {
                format!("{name}: prctl(PR_SET_IO_FLUSHER, 1): PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE")
            }
            Op::RepInit { n: k, .. } => format!("{name}: repeats {k} times"),
            Op::RepBack { .. } => format!("{name}: next iteration"),
            Op::Submit { dev, write, .. } => {
                let rw = if write { "write" } else { "read" };
                format!(
                    "{name}: submits a {rw} bio to {}{}",
                    self.dev_name(dev),
                    self.outcome(w, n, t)
                )
            }
            Op::Writeback { fs, .. } => format!(
                "{name}: fsync on {}{}",
                self.sc.fss[fs as usize].name,
                self.outcome(w, n, t)
            ),
            Op::TakeReserve(b, _) => {
                let bname = &self.sc.bufios[b as usize].name;
                if task.bits & B_FAILED == 0 {
                    format!("{name}: got a buffer for {bname}")
                } else if n.tasks[t].bits & B_RESERVE != 0 {
                    format!("{name}: allocation failed, takes a reserved buffer of {bname}")
                } else {
                    format!(
                        "{name}: allocation failed and {bname} has no reserved buffers: the read returns -ENOMEM"
                    )
                }
            }
            Op::ReleaseBuf(b) => format!(
                "{name}: dm_bufio_release() on {}",
                self.sc.bufios[b as usize].name
            ),
            Op::Complete => format!(
                "{name}: completes the bio of {}",
                self.task_name(task.serving as usize)
            ),
            Op::Exit => format!("{name}: finishes"),
        }
    }
}

fn scope_fn(flags: u8, which: &str) -> String {
    let kind = if flags & F_NOIO != 0 { "noio" } else { "nofs" };
    format!("memalloc_{kind}_{which}")
}

pub(crate) fn plural(n: u16) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn dfs(
    edges: &[Option<(Resource, Vec<u8>)>],
    t: usize,
    path: &mut Vec<WaitEdge>,
    on_path: &mut u32,
) -> Option<Vec<WaitEdge>> {
    *on_path |= 1 << t;
    if let Some((r, holders)) = &edges[t] {
        for &h in holders {
            path.push(WaitEdge {
                task: t as u8,
                waits_for: *r,
                held_by: h,
            });
            if *on_path & (1 << h) != 0 {
                let start = path.iter().position(|e| e.task == h).unwrap_or(0);
                return Some(path[start..].to_vec());
            }
            if let Some(c) = dfs(edges, h as usize, path, on_path) {
                return Some(c);
            }
            path.pop();
        }
    }
    *on_path &= !(1 << t);
    None
}
