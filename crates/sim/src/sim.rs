//! The compiled scenario and the step function. The model decides what an
//! allocation may do (`current_gfp_context`, the policy, the slow path) and
//! what reclaim may touch (`Policy::touch`); this file only carries out the
//! answers: takes locks, queues bios, moves pages.

use crate::program::Stmt;
use crate::scenario::{DevKind, Scenario, ScenarioError};
use crate::world::*;
use reclaimscope_model::alloc::{Oom, Retries, slow_path};
use reclaimscope_model::history::{BufioAlloc, VmallocMode};
use reclaimscope_model::policy::{AllocSite, ReclaimCtx};
use reclaimscope_model::reclaim::{Deps, FsCtx, LockMode, Reclaim, Source, SourceKind};
use reclaimscope_model::task::{Scope, TaskFlags};
use reclaimscope_model::{Gfp, Policy};

/// One nondeterministic decision.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Choice {
    pub kind: ChoiceKind,
    /// The acting task (for `Complete`: the disk's device index).
    pub task: u8,
    /// Reclaim source, served task, or filesystem.
    pub arg: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ChoiceKind {
    /// The task takes its next deterministic step.
    Run,
    /// Reclaim (direct or kswapd) takes source `arg`.
    Reclaim,
    /// A device server takes the bio submitted by task `arg`.
    Serve,
    /// A disk completes a bio.
    Complete,
    /// The flusher writes back dirty pages of filesystem `arg`.
    Flush,
}

impl Choice {
    const fn new(kind: ChoiceKind, task: usize, arg: usize) -> Choice {
        Choice {
            kind,
            task: task as u8,
            arg: arg as u8,
        }
    }
}

/// How a world ended up.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Status {
    Running,
    Completed,
    /// Blocked with a wait-for cycle.
    Deadlock,
    /// Blocked without a cycle: waiting for memory nothing may reclaim.
    Stuck,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Op {
    Lock(u8),
    Unlock(u8),
    Alloc(u16),
    Free(u8),
    Save {
        flags: u8,
        slot: u8,
    },
    Restore {
        flags: u8,
        slot: u8,
    },
    Prctl,
    RepInit {
        slot: u8,
        n: u8,
    },
    RepBack {
        slot: u8,
        target: u16,
    },
    Submit {
        dev: u8,
        write: bool,
        pages: u8,
    },
    Writeback {
        fs: u8,
    },
    /// Fall back to a reserved buffer after a failed allocation; without
    /// reserves the read fails with -ENOMEM and jumps to the target.
    TakeReserve(u8, u16),
    ReleaseBuf(u8),
    Complete,
    Exit,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dest {
    Held,
    Dirty(u8),
    Clean(u8),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SiteKind {
    Kmalloc,
    PageCache(u8),
    VmallocData,
    VmallocPt,
    Bufio(u8),
}

/// The slow path's answers for one site under one flags combination.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SiteCtx {
    pub ctx: ReclaimCtx,
    /// Index of `ctx` in `Sim::ctxs` (for the per-source answer cache).
    pub cid: u16,
    pub direct: bool,
    pub wakes: bool,
    pub retries: Retries,
    pub oom: bool,
    pub eighths: u8,
}

pub(crate) struct Site {
    pub gfp: Gfp,
    /// 0: as many pages as the served bio carries.
    pub pages: u8,
    pub order: u8,
    pub dest: Dest,
    pub kind: SiteKind,
    /// A NULL return is handled by a fallback (dm-bufio), not -ENOMEM.
    pub fallback: bool,
    /// Indexed by compressed task flags (5 bits) and inherited bio flags (2 bits).
    pub table: Vec<SiteCtx>,
    /// Where the program continues after success / after a NULL return.
    pub on_ok: u16,
    pub on_fail: u16,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    User,
    Server { dev: u8, kernel: bool },
    Flusher,
    Kswapd,
    BufioWorker(u8),
}

pub(crate) struct TaskInfo {
    pub name: String,
    pub kind: Kind,
    pub start: u16,
    pub flags: u8,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SrcKind {
    Clean(u8),
    Anon,
    Sb(u8),
    Bufio(u8),
}

pub(crate) struct SrcInfo {
    pub kind: SrcKind,
    pub src: Source,
    pub locks: Vec<u8>,
    /// The served device its I/O goes to.
    pub io_dev: Option<u8>,
    /// The device it submits to (before dm forwarding), for the story.
    pub submit_dev: Option<u8>,
}

pub(crate) struct DevInfo {
    /// Served device a bio ends up on (dm forwards).
    pub resolved: u8,
    pub disk: bool,
    /// Server task ids.
    pub servers: Vec<u8>,
    pub write_pc: u16,
    pub read_pc: u16,
    /// Locks a write served by this device takes on the backing fs.
    pub serve_locks: Vec<u8>,
}

/// A scenario compiled for one policy: immutable, `Sync`.
pub struct Sim {
    pub(crate) sc: Scenario,
    pub(crate) policy: Policy,
    pub(crate) ops: Vec<Op>,
    pub(crate) sites: Vec<Site>,
    pub(crate) tasks: Vec<TaskInfo>,
    pub(crate) srcs: Vec<SrcInfo>,
    pub(crate) devs: Vec<DevInfo>,
    pub(crate) kswapd: Option<u8>,
    pub(crate) kswapd_ctx: ReclaimCtx,
    pub(crate) kswapd_cid: u16,
    /// Distinct reclaim contexts, and for each, the policy's answer per
    /// source when that answer does not depend on the world (`None`: ask
    /// with `WorldDeps` each time).
    pub(crate) ctxs: Vec<ReclaimCtx>,
    pub(crate) cache: Vec<Option<Reclaim>>,
    pub(crate) fs_dev: Vec<u8>,
    pub(crate) init: World,
}

pub(crate) fn flags_to_task(f: u8) -> TaskFlags {
    let mut t = TaskFlags::empty();
    for (bit, tf) in [
        (F_NOFS, TaskFlags::PF_MEMALLOC_NOFS),
        (F_NOIO, TaskFlags::PF_MEMALLOC_NOIO),
        (F_MEMALLOC, TaskFlags::PF_MEMALLOC),
        (F_LT, TaskFlags::PF_LOCAL_THROTTLE),
        (F_KSWAPD, TaskFlags::PF_KSWAPD),
    ] {
        if f & bit != 0 {
            t = t.union(tf);
        }
    }
    t
}

pub(crate) fn task_to_flags(t: TaskFlags) -> u8 {
    let mut f = 0;
    for (bit, tf) in [
        (F_NOFS, TaskFlags::PF_MEMALLOC_NOFS),
        (F_NOIO, TaskFlags::PF_MEMALLOC_NOIO),
        (F_MEMALLOC, TaskFlags::PF_MEMALLOC),
        (F_LT, TaskFlags::PF_LOCAL_THROTTLE),
        (F_KSWAPD, TaskFlags::PF_KSWAPD),
    ] {
        if t.contains(tf) {
            f |= bit;
        }
    }
    f
}

fn scope_flags(s: Scope) -> u8 {
    task_to_flags(s.flag())
}

struct Compiler<'a> {
    sc: &'a Scenario,
    policy: Policy,
    ops: Vec<Op>,
    sites: Vec<Site>,
    fs_ctx: Vec<FsCtx>,
    err: Option<String>,
}

impl Compiler<'_> {
    /// One allocation call site; the arguments are what the model's
    /// `AllocSite` and the program need, kept flat for readability at the
    /// call sites.
    #[allow(clippy::too_many_arguments)]
    fn site(
        &mut self,
        gfp: Gfp,
        pages: u8,
        order: u8,
        dest: Dest,
        kind: SiteKind,
        fs: Option<u8>,
        lower: bool,
        fallback: bool,
    ) -> u16 {
        let mut table = Vec::with_capacity(128);
        for idx in 0..128u8 {
            let flags = idx & 31;
            let bio = (((idx >> 5) & 1) * F_NOFS) | (((idx >> 6) & 1) * F_NOIO);
            let site = AllocSite {
                task: flags_to_task(flags),
                gfp,
                fs: fs.map(|f| self.fs_ctx[f as usize]),
                page_cache_of_lower_fs: lower,
                bio_flags: flags_to_task(bio),
            };
            let ctx = self.policy.reclaim_context(&site);
            let b = slow_path(ctx.task, ctx.gfp, order as u32);
            table.push(SiteCtx {
                ctx,
                cid: 0,
                direct: b.direct_reclaim,
                wakes: b.wakes_kswapd,
                retries: b.retries,
                oom: b.oom == Oom::Invoke,
                eighths: b.reserves.eighths_below_min() as u8,
            });
        }
        self.sites.push(Site {
            gfp,
            pages,
            order,
            dest,
            kind,
            fallback,
            table,
            on_ok: 0,
            on_fail: 0,
        });
        (self.sites.len() - 1) as u16
    }

    /// Emit an allocation; by default the program continues with the next op.
    fn push_alloc(&mut self, site: u16) {
        let next = self.pc() + 1;
        let s = &mut self.sites[site as usize];
        s.on_ok = next;
        s.on_fail = next;
        self.ops.push(Op::Alloc(site));
    }

    fn pc(&self) -> u16 {
        self.ops.len() as u16
    }

    fn scoped(
        &mut self,
        scope: Option<Scope>,
        depth: &mut u8,
        body: impl FnOnce(&mut Self, &mut u8),
    ) {
        match scope {
            None => body(self, depth),
            Some(s) => {
                let slot = *depth;
                if slot as usize >= SAVE_SLOTS {
                    self.err = Some("scopes nest too deep".into());
                    return;
                }
                let flags = scope_flags(s);
                self.ops.push(Op::Save { flags, slot });
                *depth += 1;
                body(self, depth);
                *depth -= 1;
                self.ops.push(Op::Restore { flags, slot });
            }
        }
    }

    fn stmts(
        &mut self,
        prog: &[Stmt],
        task_fs: Option<u8>,
        depth: &mut u8,
        rep: u8,
        scopes: &mut Vec<(u8, u8)>,
    ) {
        for s in prog {
            match s {
                Stmt::Lock(l) => self.ops.push(Op::Lock(*l as u8)),
                Stmt::Unlock(l) => self.ops.push(Op::Unlock(*l as u8)),
                Stmt::Alloc { gfp, pages, order } => {
                    let s = self.site(
                        *gfp,
                        *pages,
                        *order,
                        Dest::Held,
                        SiteKind::Kmalloc,
                        task_fs,
                        false,
                        false,
                    );
                    self.push_alloc(s);
                }
                Stmt::Vmalloc { gfp, pages } => self.vmalloc(*gfp, *pages, task_fs, depth),
                Stmt::Free { pages } => self.ops.push(Op::Free(*pages)),
                Stmt::Scope(sc) => {
                    let slot = *depth;
                    if slot as usize >= SAVE_SLOTS {
                        self.err = Some("scopes nest too deep".into());
                        return;
                    }
                    let flags = scope_flags(*sc);
                    self.ops.push(Op::Save { flags, slot });
                    scopes.push((flags, slot));
                    *depth += 1;
                }
                Stmt::End => {
                    if let Some((flags, slot)) = scopes.pop() {
                        self.ops.push(Op::Restore { flags, slot });
                        *depth -= 1;
                    }
                }
                Stmt::Write { fs, pages } => self.file_write(*fs as u8, *pages, false, depth),
                Stmt::Read { fs, pages } => {
                    let f = *fs as u8;
                    let scope = self.policy.file_io_scope(false);
                    let gfp = self.sc.fss[*fs].write_gfp;
                    let site = self.page_cache_site(gfp, *pages, f, false);
                    let dev = self.sc.fss[*fs].dev as u8;
                    let pages = *pages;
                    self.scoped(scope, depth, |c, _| {
                        c.push_alloc(site);
                        c.ops.push(Op::Submit {
                            dev,
                            write: false,
                            pages,
                        });
                    });
                }
                Stmt::Fsync { fs } => self.ops.push(Op::Writeback { fs: *fs as u8 }),
                Stmt::BufioRead { bufio, blocks } => {
                    for _ in 0..*blocks {
                        self.bufio_read(*bufio as u8, task_fs);
                    }
                }
                Stmt::PrctlIoFlusher => self.ops.push(Op::Prctl),
                Stmt::Repeat { n, body } => {
                    if rep as usize >= REP_SLOTS {
                        self.err = Some(format!("repeat nests at most {REP_SLOTS} deep"));
                        return;
                    }
                    self.ops.push(Op::RepInit { slot: rep, n: *n });
                    let target = self.pc();
                    self.stmts(body, task_fs, depth, rep + 1, scopes);
                    self.ops.push(Op::RepBack { slot: rep, target });
                }
            }
        }
    }

    /// A buffered write on `fs`: the fs's write locks, page-cache pages
    /// that become dirty. `server`: pread/pwrite of a device server (pages
    /// from the bio, the backing file's mapping).
    fn file_write(&mut self, f: u8, pages: u8, server: bool, depth: &mut u8) {
        let fs = &self.sc.fss[f as usize];
        let locks: Vec<u8> = fs.write_locks.iter().map(|&l| l as u8).collect();
        let gfp = fs.write_gfp;
        let scope = self.policy.file_io_scope(server);
        let site = self.site(
            gfp,
            pages,
            0,
            Dest::Dirty(f),
            SiteKind::PageCache(f),
            Some(f),
            server,
            false,
        );
        self.scoped(scope, depth, |c, _| {
            for &l in &locks {
                c.ops.push(Op::Lock(l));
            }
            c.push_alloc(site);
            for &l in locks.iter().rev() {
                c.ops.push(Op::Unlock(l));
            }
        });
    }

    /// `__vmalloc`: data pages with the caller's mask, then a page-table
    /// page: GFP_KERNEL (legacy) or inside the matching scope (v5.17+).
    fn vmalloc(&mut self, gfp: Gfp, pages: u8, task_fs: Option<u8>, depth: &mut u8) {
        let data = self.site(
            gfp,
            pages,
            0,
            Dest::Held,
            SiteKind::VmallocData,
            task_fs,
            false,
            false,
        );
        self.push_alloc(data);
        let pt = self.site(
            Gfp::KERNEL,
            1,
            0,
            Dest::Held,
            SiteKind::VmallocPt,
            task_fs,
            false,
            false,
        );
        let scope = match self.sc.vmalloc {
            VmallocMode::Legacy => None,
            VmallocMode::Modern if !gfp.contains(Gfp::IO) => Some(Scope::Noio),
            VmallocMode::Modern if !gfp.contains(Gfp::FS) => Some(Scope::Nofs),
            VmallocMode::Modern => None,
        };
        self.scoped(scope, depth, |c, _| c.push_alloc(pt));
        self.sites[data as usize].on_fail = self.pc();
    }

    /// A page-cache allocation for a read of fs `f`; `lower`: made by a
    /// device server on the fs backing its device (mapping-nofs).
    fn page_cache_site(&mut self, gfp: Gfp, pages: u8, f: u8, lower: bool) -> u16 {
        self.site(
            gfp,
            pages,
            0,
            Dest::Clean(f),
            SiteKind::PageCache(f),
            Some(f),
            lower,
            false,
        )
    }

    /// One dm-bufio buffer allocation (`alloc_buffer`) with `gfp`.
    fn bufio_site(&mut self, b: u8, gfp: Gfp, task_fs: Option<u8>) -> u16 {
        self.site(
            gfp,
            1,
            0,
            Dest::Held,
            SiteKind::Bufio(b),
            task_fs,
            false,
            true,
        )
    }

    /// `dm_bufio_read` of one block that is not cached, by allocation era.
    fn bufio_read(&mut self, b: u8, task_fs: Option<u8>) {
        let bufio = &self.sc.bufios[b as usize];
        let lock = bufio.lock as u8;
        let dev = bufio.dev as u8;
        let noio = Gfp::NOIO | Gfp::NORETRY | Gfp::NOMEMALLOC | Gfp::NOWARN;
        match bufio.alloc {
            BufioAlloc::NoioUnderLock => {
                let s = self.bufio_site(b, noio, task_fs);
                self.ops.push(Op::Lock(lock));
                self.push_alloc(s);
                self.ops.push(Op::Unlock(lock));
            }
            BufioAlloc::NowaitThenNoio => {
                let nowait = Gfp::NOWAIT | Gfp::NORETRY | Gfp::NOMEMALLOC;
                let s1 = self.bufio_site(b, nowait, task_fs);
                self.ops.push(Op::Lock(lock));
                self.push_alloc(s1);
                self.ops.push(Op::Unlock(lock));
                let s2 = self.bufio_site(b, noio, task_fs);
                self.push_alloc(s2);
                self.ops.push(Op::Lock(lock));
                self.sites[s1 as usize].on_ok = self.pc();
                self.ops.push(Op::Unlock(lock));
            }
        }
        let j = self.ops.len();
        self.ops.push(Op::TakeReserve(b, 0));
        self.ops.push(Op::Submit {
            dev,
            write: false,
            pages: 1,
        });
        self.ops.push(Op::ReleaseBuf(b));
        let end = self.pc();
        self.ops[j] = Op::TakeReserve(b, end);
    }
}

impl Sim {
    pub fn new(sc: &Scenario, policy: &Policy) -> Result<Sim, ScenarioError> {
        let policy = *policy;
        let fs_ctx: Vec<FsCtx> = (0..sc.fss.len())
            .map(|f| FsCtx {
                sb: f as u16,
                depth: sc.fs_depth(f),
            })
            .collect();
        let mut c = Compiler {
            sc,
            policy,
            ops: Vec::new(),
            sites: Vec::new(),
            fs_ctx: fs_ctx.clone(),
            err: None,
        };
        let mut tasks = Vec::new();
        for t in &sc.tasks {
            let start = c.pc();
            let fs = t.fs.map(|f| f as u8);
            let mut depth = 0u8;
            let mut scopes = Vec::new();
            let prog = if t.repeat > 1 {
                vec![Stmt::Repeat {
                    n: t.repeat,
                    body: t.program.clone(),
                }]
            } else {
                t.program.clone()
            };
            c.scoped(t.scope, &mut depth, |c, depth| {
                c.stmts(&prog, fs, depth, 0, &mut scopes)
            });
            c.ops.push(Op::Exit);
            tasks.push(TaskInfo {
                name: t.name.clone(),
                kind: Kind::User,
                start,
                flags: 0,
            });
        }
        // Device servers.
        let mut devs = Vec::new();
        let mut server_tasks = Vec::new();
        for (d, dev) in sc.devices.iter().enumerate() {
            let resolved = sc.resolve(d) as u8;
            let mut info = DevInfo {
                resolved,
                disk: matches!(dev.kind, DevKind::Disk),
                servers: Vec::new(),
                write_pc: 0,
                read_pc: 0,
                serve_locks: Vec::new(),
            };
            let (fs, threads, kernel, base, name) = match &dev.kind {
                DevKind::Loop { fs, noio, .. } => {
                    let base = if *noio { F_NOIO | F_LT } else { 0 };
                    (*fs, 1, true, base, format!("{} worker", dev.name))
                }
                DevKind::Daemon {
                    fs,
                    queue_depth,
                    process,
                    io_flusher,
                    ..
                } => {
                    // prctl(PR_SET_IO_FLUSHER) at startup, inherited by its threads.
                    let base = if *io_flusher { F_NOIO | F_LT } else { 0 };
                    (*fs, *queue_depth, false, base, process.clone())
                }
                _ => {
                    devs.push(info);
                    continue;
                }
            };
            let f = fs as u8;
            info.serve_locks = sc.fss[fs].write_locks.iter().map(|&l| l as u8).collect();
            info.write_pc = c.pc();
            let mut depth = 0;
            c.file_write(f, 0, true, &mut depth);
            c.ops.push(Op::Complete);
            info.read_pc = c.pc();
            let gfp = sc.fss[fs].write_gfp;
            let site = c.page_cache_site(gfp, 0, f, true);
            let scope = policy.file_io_scope(true);
            c.scoped(scope, &mut depth, |c, _| c.push_alloc(site));
            c.ops.push(Op::Complete);
            let flags = task_to_flags(policy.server_flags(flags_to_task(base)));
            for i in 0..threads {
                let tname = if threads > 1 {
                    format!("{name}/{i}")
                } else {
                    name.clone()
                };
                info.servers.push(0);
                server_tasks.push((d, tname, kernel, flags));
            }
            devs.push(info);
        }
        if let Some(e) = c.err.take() {
            return Err(ScenarioError {
                origin: sc.origin.clone(),
                line: 1,
                col: 1,
                span: None,
                message: e,
            });
        }
        for d in &mut devs {
            d.servers.clear();
        }
        for (d, name, kernel, flags) in server_tasks {
            devs[d].servers.push(tasks.len() as u8);
            tasks.push(TaskInfo {
                name,
                kind: Kind::Server {
                    dev: d as u8,
                    kernel,
                },
                start: 0,
                flags,
            });
        }
        tasks.push(TaskInfo {
            name: "flusher".into(),
            kind: Kind::Flusher,
            start: 0,
            flags: F_LT,
        });
        let kswapd = sc.memory.kswapd.then(|| {
            tasks.push(TaskInfo {
                name: "kswapd".into(),
                kind: Kind::Kswapd,
                start: 0,
                flags: F_MEMALLOC | F_KSWAPD,
            });
            (tasks.len() - 1) as u8
        });
        for (b, bufio) in sc.bufios.iter().enumerate() {
            tasks.push(TaskInfo {
                name: format!("dm_bufio_wq({})", bufio.name),
                kind: Kind::BufioWorker(b as u8),
                start: 0,
                flags: F_NOIO,
            });
        }
        if tasks.len() > crate::scenario::MAX_TASKS {
            return Err(ScenarioError {
                origin: sc.origin.clone(),
                line: 1,
                col: 1,
                span: None,
                message: "too many tasks".into(),
            });
        }
        // Reclaim sources.
        let mut srcs = Vec::new();
        let mut push = |kind: SrcKind,
                        skind: SourceKind,
                        fs: Option<FsCtx>,
                        locks: Vec<u8>,
                        io_dev: Option<u8>| {
            let id = srcs.len() as u16;
            srcs.push(SrcInfo {
                kind,
                src: Source {
                    id,
                    kind: skind,
                    fs,
                },
                locks,
                io_dev: io_dev.map(|d| sc.resolve(d as usize) as u8),
                submit_dev: io_dev,
            });
        };
        for (f, ctx) in fs_ctx.iter().enumerate() {
            push(
                SrcKind::Clean(f as u8),
                SourceKind::CleanPageCache,
                Some(*ctx),
                vec![],
                None,
            );
        }
        if sc.memory.anon > 0 {
            let io = sc.memory.swap_dev.map(|d| d as u8);
            push(SrcKind::Anon, SourceKind::Anon, None, vec![], io);
        }
        for (f, fs) in sc.fss.iter().enumerate() {
            let locks = fs.shrinker_locks.iter().map(|&l| l as u8).collect();
            push(
                SrcKind::Sb(f as u8),
                SourceKind::SuperBlock,
                Some(fs_ctx[f]),
                locks,
                Some(fs.dev as u8),
            );
        }
        for (b, bufio) in sc.bufios.iter().enumerate() {
            push(
                SrcKind::Bufio(b as u8),
                SourceKind::Bufio(bufio.gate),
                None,
                vec![bufio.lock as u8],
                Some(bufio.dev as u8),
            );
        }
        let kswapd_ctx = policy.reclaim_context(&AllocSite {
            task: flags_to_task(F_MEMALLOC | F_KSWAPD),
            gfp: Gfp::KERNEL,
            ..AllocSite::default()
        });
        let mut sites = c.sites;
        let mut ctxs: Vec<ReclaimCtx> = Vec::new();
        let mut intern = |ctx: ReclaimCtx| -> u16 {
            match ctxs.iter().position(|c| *c == ctx) {
                Some(i) => i as u16,
                None => {
                    ctxs.push(ctx);
                    (ctxs.len() - 1) as u16
                }
            }
        };
        for site in &mut sites {
            for e in &mut site.table {
                e.cid = intern(e.ctx);
            }
        }
        let kswapd_cid = intern(kswapd_ctx);
        let cache = answer_cache(policy, &ctxs, &srcs);
        let fs_dev = sc.fss.iter().map(|f| f.dev as u8).collect();
        let mut w = World {
            free: sc.memory.free,
            anon: sc.memory.anon,
            swap_free: if sc.memory.swap_dev.is_some() {
                sc.memory.swap_pages
            } else {
                0
            },
            kswapd_awake: false,
            nt: tasks.len() as u8,
            nf: sc.fss.len() as u8,
            nb: sc.bufios.len() as u8,
            nl: sc.locks.len() as u8,
            fs: Default::default(),
            bufio: Default::default(),
            locks: [NONE; crate::scenario::MAX_LOCKS],
            tasks: Default::default(),
        };
        for (f, fs) in sc.fss.iter().enumerate() {
            w.fs[f] = FsState {
                clean: fs.clean,
                dirty: fs.dirty,
                inodes: fs.inodes,
                dirty_inodes: fs.dirty_inodes,
            };
        }
        for (b, bufio) in sc.bufios.iter().enumerate() {
            w.bufio[b] = BufState {
                clean: bufio.clean,
                dirty: bufio.dirty,
                reserve: bufio.reserved,
                queued: false,
            };
        }
        for (i, t) in tasks.iter().enumerate() {
            w.tasks[i] = Task {
                pc: t.start,
                st: if t.kind == Kind::User {
                    ST_READY
                } else {
                    ST_IDLE
                },
                flags: t.flags,
                serving: NONE,
                bio_dev: NONE,
                ..Task::default()
            };
        }
        Ok(Sim {
            sc: sc.clone(),
            policy,
            ops: c.ops,
            sites,
            tasks,
            srcs,
            devs,
            kswapd,
            kswapd_ctx,
            kswapd_cid,
            ctxs,
            cache,
            fs_dev,
            init: w,
        })
    }

    pub fn initial(&self) -> World {
        self.init.clone()
    }

    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Number of tasks (user tasks first, then servers, flusher, kswapd, bufio workers).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    pub fn task_name(&self, t: usize) -> &str {
        &self.tasks[t].name
    }

    /// Whether task `t` is one of the scenario's own tasks.
    pub fn is_user_task(&self, t: usize) -> bool {
        self.tasks[t].kind == Kind::User
    }

    /// Reclaim source names, indexed as in `Choice::arg` of `Reclaim`.
    pub fn source_name(&self, s: usize) -> String {
        match self.srcs[s].kind {
            SrcKind::Clean(f) => format!("clean page cache of {}", self.sc.fss[f as usize].name),
            SrcKind::Anon => "anonymous memory (swap)".into(),
            SrcKind::Sb(f) => format!("superblock shrinker of {}", self.sc.fss[f as usize].name),
            SrcKind::Bufio(b) => {
                format!("dm-bufio shrinker of {}", self.sc.bufios[b as usize].name)
            }
        }
    }

    pub fn source_count(&self) -> usize {
        self.srcs.len()
    }

    // ---- allocation context ------------------------------------------------

    pub(crate) fn site_ctx(&self, w: &World, t: usize, site: u16) -> &SiteCtx {
        let task = &w.tasks[t];
        let mut bio = 0u8;
        if let (Kind::Server { kernel, .. }, true) = (self.tasks[t].kind, task.serving != NONE) {
            let sub = flags_to_task(w.tasks[task.serving as usize].bio_flags & (F_NOFS | F_NOIO));
            let inh = task_to_flags(self.policy.bio_inherited(sub, kernel));
            bio = inh & (F_NOFS | F_NOIO);
        }
        let idx = (task.flags & 31) | (bio & F_NOFS) << 5 | ((bio & F_NOIO) >> 1) << 6;
        &self.sites[site as usize].table[idx as usize]
    }

    pub(crate) fn site_pages(&self, w: &World, t: usize, site: u16) -> u16 {
        let s = &self.sites[site as usize];
        if s.pages == 0 {
            let sub = w.tasks[t].serving;
            if sub == NONE {
                1
            } else {
                w.tasks[sub as usize].bio_pages.max(1) as u16
            }
        } else {
            s.pages as u16
        }
    }

    fn mark(&self, eighths: u8) -> u16 {
        let min = self.sc.memory.min;
        min - (min as u32 * eighths as u32 / 8) as u16
    }

    pub(crate) fn fits(&self, w: &World, t: usize, site: u16) -> bool {
        let sc = self.site_ctx(w, t, site);
        w.free as u32 >= self.site_pages(w, t, site) as u32 + self.mark(sc.eighths) as u32
    }

    /// The reclaim context of task `t` right now (its current alloc site, or kswapd's).
    pub(crate) fn reclaim_ctx(&self, w: &World, t: usize) -> Option<ReclaimCtx> {
        if self.tasks[t].kind == Kind::Kswapd {
            return Some(self.kswapd_ctx);
        }
        match self.ops.get(w.tasks[t].pc as usize) {
            Some(Op::Alloc(site)) => Some(self.site_ctx(w, t, *site).ctx),
            _ => None,
        }
    }

    /// `touch` for an interned context: the cached answer when the policy's
    /// answer does not depend on the world.
    pub(crate) fn touch_c(&self, w: &World, t: usize, cid: u16, s: usize) -> Option<Reclaim> {
        match self.cache[cid as usize * self.srcs.len() + s] {
            Some(r) => self.useful(w, s, r).then_some(r),
            None => self.touch(w, t, &self.ctxs[cid as usize], s),
        }
    }

    /// What reclaim from `ctx` does with source `s` in `w`, if it can free anything.
    pub(crate) fn touch(&self, w: &World, t: usize, ctx: &ReclaimCtx, s: usize) -> Option<Reclaim> {
        let info = &self.srcs[s];
        let deps = WorldDeps { sim: self, w, t };
        let r = self.policy.touch(ctx, &info.src, &deps);
        self.useful(w, s, r).then_some(r)
    }

    fn useful(&self, w: &World, s: usize, r: Reclaim) -> bool {
        match (self.srcs[s].kind, r) {
            (_, Reclaim::Skip { .. }) => false,
            (SrcKind::Clean(f), _) => w.fs[f as usize].clean > 0,
            (SrcKind::Anon, Reclaim::SwapOut) => {
                w.anon > 0 && w.swap_free > 0 && self.srcs[s].io_dev.is_some()
            }
            (SrcKind::Sb(f), Reclaim::PruneSuperBlock) => w.fs[f as usize].inodes > 0,
            (SrcKind::Bufio(b), Reclaim::Bufio { lock, write_dirty }) => {
                let bs = &w.bufio[b as usize];
                let lock_ok =
                    lock == LockMode::Blocking || w.locks[self.srcs[s].locks[0] as usize] == NONE;
                lock_ok && (bs.clean > 0 || write_dirty && bs.dirty > 0)
            }
            (SrcKind::Bufio(b), Reclaim::Deferred) => {
                let bs = &w.bufio[b as usize];
                !bs.queued && bs.clean as u16 + bs.dirty as u16 > 0
            }
            _ => false,
        }
    }

    /// Pages source `s` could give back right now (for reach).
    pub(crate) fn freeable(&self, w: &World, s: usize, r: Reclaim) -> u16 {
        match self.srcs[s].kind {
            SrcKind::Clean(f) => w.fs[f as usize].clean,
            SrcKind::Anon => w.anon.min(w.swap_free),
            SrcKind::Sb(f) => w.fs[f as usize].inodes,
            SrcKind::Bufio(b) => {
                let bs = &w.bufio[b as usize];
                match r {
                    Reclaim::Bufio {
                        write_dirty: true, ..
                    } => bs.clean as u16 + bs.dirty as u16,
                    Reclaim::Bufio { .. } => bs.clean as u16,
                    _ => 0,
                }
            }
        }
    }

    fn oom_victim(&self, w: &World) -> Option<usize> {
        if !self.sc.memory.oom_killer {
            return None;
        }
        let mut best: Option<(u8, usize)> = None;
        for t in 0..self.tasks.len() {
            let task = &w.tasks[t];
            if self.tasks[t].kind != Kind::User
                || task.st != ST_READY
                || task.held == 0
                || task.bio_st != BIO_NONE
            {
                continue;
            }
            if w.locks[..w.nl as usize].contains(&(t as u8)) {
                continue;
            }
            if best.is_none_or(|(h, _)| task.held > h) {
                best = Some((task.held, t));
            }
        }
        best.map(|b| b.1)
    }

    // ---- choices -----------------------------------------------------------

    pub fn choices(&self, w: &World, out: &mut Vec<Choice>) {
        out.clear();
        for t in 0..w.nt as usize {
            self.task_choices(w, t, out);
        }
        let mut queued = 0u32;
        for task in &w.tasks[..w.nt as usize] {
            if task.bio_st == BIO_QUEUED {
                queued |= 1 << task.bio_dev;
            }
        }
        while queued != 0 {
            let d = queued.trailing_zeros() as usize;
            queued &= queued - 1;
            if self.devs[d].disk {
                out.push(Choice::new(ChoiceKind::Complete, d, 0));
            }
        }
    }

    fn queued_on(&self, w: &World, d: usize) -> Option<usize> {
        (0..w.nt as usize)
            .find(|&j| w.tasks[j].bio_st == BIO_QUEUED && w.tasks[j].bio_dev as usize == d)
    }

    fn task_choices(&self, w: &World, t: usize, out: &mut Vec<Choice>) {
        let task = &w.tasks[t];
        let run = Choice::new(ChoiceKind::Run, t, 0);
        match task.st {
            ST_DONE | ST_KILLED => {}
            ST_IDLE => match self.tasks[t].kind {
                Kind::Server { dev, .. } => {
                    for j in 0..w.nt as usize {
                        if w.tasks[j].bio_st == BIO_QUEUED && w.tasks[j].bio_dev == dev {
                            out.push(Choice::new(ChoiceKind::Serve, t, j));
                        }
                    }
                }
                Kind::Flusher => {
                    for f in 0..w.nf as usize {
                        if w.fs[f].dirty > 0 {
                            out.push(Choice::new(ChoiceKind::Flush, t, f));
                        }
                    }
                }
                Kind::Kswapd => {
                    if w.kswapd_awake {
                        let before = out.len();
                        if w.free < self.sc.memory.high {
                            for s in 0..self.srcs.len() {
                                if self.touch_c(w, t, self.kswapd_cid, s).is_some() {
                                    out.push(Choice::new(ChoiceKind::Reclaim, t, s));
                                }
                            }
                        }
                        if out.len() == before {
                            out.push(run);
                        }
                    }
                }
                Kind::BufioWorker(b) => {
                    if w.bufio[b as usize].queued {
                        out.push(run);
                    }
                }
                Kind::User => {}
            },
            ST_READY => match self.ops[task.pc as usize] {
                Op::Lock(l) => {
                    if w.locks[l as usize] == NONE {
                        out.push(run);
                    }
                }
                Op::Alloc(site) => self.alloc_choices(w, t, site, out),
                Op::TakeReserve(b, _) => {
                    let ok = task.bits & B_FAILED == 0
                        || w.bufio[b as usize].reserve > 0
                        || self.sc.bufios[b as usize].reserved == 0;
                    if ok {
                        out.push(run);
                    }
                }
                _ => out.push(run),
            },
            ST_REC => {
                let l = self.srcs[task.rsrc as usize].locks[task.rstep as usize];
                if w.locks[l as usize] == NONE {
                    out.push(run);
                }
            }
            ST_REC_IO | ST_OP_IO if task.bio_st == BIO_DONE => out.push(run),
            _ => {}
        }
    }

    fn alloc_choices(&self, w: &World, t: usize, site: u16, out: &mut Vec<Choice>) {
        let run = Choice::new(ChoiceKind::Run, t, 0);
        let task = &w.tasks[t];
        if task.bits & B_RECLAIMING == 0 {
            // Try the freelist; fail; or enter direct reclaim: one step each.
            out.push(run);
            return;
        }
        let sc = self.site_ctx(w, t, site);
        if self.fits(w, t, site) {
            // Someone freed pages meanwhile: the retry's freelist attempt succeeds.
            out.push(run);
        }
        let before = out.len();
        for s in 0..self.srcs.len() {
            if self.touch_c(w, t, sc.cid, s).is_some() {
                out.push(Choice::new(ChoiceKind::Reclaim, t, s));
            }
        }
        if out.len() > before {
            return;
        }
        // Nothing reclaimable from this context.
        match sc.retries {
            Retries::Forever => {
                if sc.oom && self.oom_victim(w).is_some() {
                    out.push(run);
                }
                // else: loops in the slow path without progress: blocked on memory.
            }
            _ => out.push(run),
        }
    }

    // ---- step --------------------------------------------------------------

    pub fn step(&self, w: &World, c: Choice) -> World {
        let mut ev = Events::default();
        self.step_ev(w, c, &mut ev)
    }

    /// `step`, also reporting what happened (for `run`'s metrics).
    pub fn step_ev(&self, w: &World, c: Choice, ev: &mut Events) -> World {
        let mut n = w.clone();
        self.apply(&mut n, w, c, ev);
        n
    }

    /// `step_ev` into a caller-owned world (no copy of the result): `out`
    /// becomes the successor of `w`.
    pub fn step_into(&self, w: &World, c: Choice, ev: &mut Events, out: &mut World) {
        out.clone_from(w);
        self.apply(out, w, c, ev);
    }

    /// `step` written over `n`, which must hold a copy of `w`: a caller that
    /// clones `w` straight into its own storage pays one copy per successor.
    pub fn step_in_place(&self, w: &World, c: Choice, n: &mut World) {
        debug_assert!(n == w, "step_in_place needs a copy of the world");
        let mut ev = Events::default();
        self.apply(n, w, c, &mut ev);
    }

    fn apply(&self, n: &mut World, w: &World, c: Choice, ev: &mut Events) {
        ev.n = 0;
        let t = c.task as usize;
        match c.kind {
            ChoiceKind::Complete => {
                if let Some(j) = self.queued_on(n, t) {
                    n.tasks[j].bio_st = BIO_DONE;
                }
            }
            ChoiceKind::Serve => {
                let j = c.arg as usize;
                n.tasks[j].bio_st = BIO_SERVING;
                let Kind::Server { dev, .. } = self.tasks[t].kind else {
                    return;
                };
                let info = &self.devs[dev as usize];
                let task = &mut n.tasks[t];
                task.serving = j as u8;
                task.pc = if w.tasks[j].bio_flags & BIO_WRITE != 0 {
                    info.write_pc
                } else {
                    info.read_pc
                };
                task.st = ST_READY;
            }
            ChoiceKind::Flush => {
                let f = c.arg as usize;
                let pages = n.fs[f].dirty.min(self.sc.memory.batch) as u8;
                let dev = self.fs_dev[f];
                n.tasks[t].rsrc = f as u8;
                self.submit(n, t, dev, true, pages);
                n.tasks[t].st = ST_OP_IO;
            }
            ChoiceKind::Reclaim => self.start_reclaim(n, w, t, c.arg as usize, ev),
            ChoiceKind::Run => self.run_task(n, w, t, ev),
        }
    }

    fn submit(&self, n: &mut World, t: usize, dev: u8, write: bool, pages: u8) {
        let task = &mut n.tasks[t];
        task.bio_dev = self.devs[dev as usize].resolved;
        task.bio_st = BIO_QUEUED;
        task.bio_pages = pages.max(1);
        task.bio_flags = (task.flags & (F_NOFS | F_NOIO)) | if write { BIO_WRITE } else { 0 };
    }

    fn clear_bio(n: &mut World, t: usize) {
        let task = &mut n.tasks[t];
        task.bio_dev = NONE;
        task.bio_st = BIO_NONE;
        task.bio_pages = 0;
        task.bio_flags = 0;
    }

    fn start_reclaim(&self, n: &mut World, w: &World, t: usize, s: usize, ev: &mut Events) {
        let ctx = match self.reclaim_ctx(w, t) {
            Some(c) => c,
            None => return,
        };
        let Some(r) = self.touch(w, t, &ctx, s) else {
            return;
        };
        if self.tasks[t].kind != Kind::Kswapd {
            let reach = self.reach(w, t, &ctx);
            ev.push(EvKind::ReclaimEnter, t, reach, s as u16);
            ev.ev[ev.n as usize - 1].c = self.reclaimable(w);
            n.tasks[t].bits &= !B_RECLAIMING;
        }
        let task = &mut n.tasks[t];
        task.rsrc = s as u8;
        task.rstep = 0;
        task.bits &= !B_WRITE;
        match r {
            Reclaim::Deferred => {
                if let SrcKind::Bufio(b) = self.srcs[s].kind {
                    n.bufio[b as usize].queued = true;
                }
                n.tasks[t].bits |= B_ROUND;
                n.tasks[t].rsrc = 0;
                ev.push(EvKind::ReclaimDone, t, s as u16, 0);
                return;
            }
            Reclaim::Bufio { lock, write_dirty } => {
                if write_dirty {
                    task.bits |= B_WRITE;
                }
                if lock == LockMode::Trylock {
                    let l = self.srcs[s].locks[0] as usize;
                    n.locks[l] = t as u8;
                    n.tasks[t].rstep = 1;
                }
            }
            _ => {}
        }
        n.tasks[t].st = ST_REC;
        self.advance_reclaim(n, t, ev);
    }

    /// Take the source's locks while free, then start its I/O or finish.
    fn advance_reclaim(&self, n: &mut World, t: usize, ev: &mut Events) {
        let s = n.tasks[t].rsrc as usize;
        let info = &self.srcs[s];
        while (n.tasks[t].rstep as usize) < info.locks.len() {
            let l = info.locks[n.tasks[t].rstep as usize] as usize;
            if n.locks[l] != NONE {
                return;
            }
            n.locks[l] = t as u8;
            n.tasks[t].rstep += 1;
        }
        let batch = self.sc.memory.batch;
        let io = match info.kind {
            SrcKind::Clean(_) => None,
            SrcKind::Anon => Some(n.anon.min(n.swap_free).min(batch)),
            SrcKind::Sb(f) => Some(n.fs[f as usize].dirty_inodes.min(batch)).filter(|&p| p > 0),
            SrcKind::Bufio(b) => {
                let d = n.bufio[b as usize].dirty as u16;
                (n.tasks[t].bits & B_WRITE != 0 && d > 0).then_some(d)
            }
        };
        match (io, info.io_dev) {
            (Some(pages), Some(dev)) => {
                self.submit(n, t, dev, true, pages.min(255) as u8);
                n.tasks[t].st = ST_REC_IO;
            }
            _ => self.finish_reclaim(n, t, ev),
        }
    }

    fn finish_reclaim(&self, n: &mut World, t: usize, ev: &mut Events) {
        let s = n.tasks[t].rsrc as usize;
        let info = &self.srcs[s];
        let batch = self.sc.memory.batch;
        let written = if n.tasks[t].bio_st == BIO_DONE {
            n.tasks[t].bio_pages as u16
        } else {
            0
        };
        let freed = match info.kind {
            SrcKind::Clean(f) => {
                let fs = &mut n.fs[f as usize];
                let k = fs.clean.min(batch);
                fs.clean -= k;
                k
            }
            SrcKind::Anon => {
                let k = written.min(n.anon).min(n.swap_free);
                n.anon -= k;
                n.swap_free -= k;
                k
            }
            SrcKind::Sb(f) => {
                let fs = &mut n.fs[f as usize];
                fs.dirty_inodes = fs.dirty_inodes.saturating_sub(written);
                let k = fs.inodes.min(batch);
                fs.inodes -= k;
                fs.dirty_inodes = fs.dirty_inodes.min(fs.inodes);
                k
            }
            SrcKind::Bufio(b) => {
                let bs = &mut n.bufio[b as usize];
                let wr = (written as u8).min(bs.dirty);
                bs.dirty -= wr;
                bs.clean = bs.clean.saturating_add(wr);
                let k = (bs.clean as u16).min(batch) as u8;
                bs.clean -= k;
                k as u16
            }
        };
        n.free += freed;
        for &l in &info.locks {
            if n.locks[l as usize] == t as u8 {
                n.locks[l as usize] = NONE;
            }
        }
        Self::clear_bio(n, t);
        ev.push(EvKind::ReclaimDone, t, s as u16, freed);
        let task = &mut n.tasks[t];
        task.rstep = 0;
        // No stale fields: equal situations must be equal worlds.
        task.rsrc = 0;
        task.bits &= !B_WRITE;
        match self.tasks[t].kind {
            Kind::Kswapd => task.st = ST_IDLE,
            Kind::BufioWorker(b) => {
                task.st = ST_IDLE;
                n.bufio[b as usize].queued = false;
            }
            _ => {
                task.st = ST_READY;
                task.bits |= B_ROUND;
            }
        }
    }

    fn run_task(&self, n: &mut World, w: &World, t: usize, ev: &mut Events) {
        match w.tasks[t].st {
            ST_IDLE => match self.tasks[t].kind {
                Kind::Kswapd => n.kswapd_awake = false,
                Kind::BufioWorker(b) => {
                    let s = self
                        .srcs
                        .iter()
                        .position(|x| x.kind == SrcKind::Bufio(b))
                        .unwrap_or(0);
                    let task = &mut n.tasks[t];
                    task.rsrc = s as u8;
                    task.rstep = 0;
                    task.bits |= B_WRITE;
                    task.st = ST_REC;
                    self.advance_reclaim(n, t, ev);
                }
                _ => {}
            },
            ST_REC => self.advance_reclaim(n, t, ev),
            ST_REC_IO => self.finish_reclaim(n, t, ev),
            ST_OP_IO => {
                let task = w.tasks[t];
                let pages = task.bio_pages as u16;
                if self.tasks[t].kind == Kind::Flusher {
                    let fs = &mut n.fs[task.rsrc as usize];
                    let k = pages.min(fs.dirty);
                    fs.dirty -= k;
                    fs.clean += k;
                    Self::clear_bio(n, t);
                    n.tasks[t].st = ST_IDLE;
                    n.tasks[t].rsrc = 0;
                    return;
                }
                if let Op::Writeback { fs } = self.ops[task.pc as usize] {
                    let fs = &mut n.fs[fs as usize];
                    let k = pages.min(fs.dirty);
                    fs.dirty -= k;
                    fs.clean += k;
                }
                Self::clear_bio(n, t);
                n.tasks[t].st = ST_READY;
                n.tasks[t].pc += 1;
            }
            ST_READY => self.exec(n, w, t, ev),
            _ => {}
        }
    }

    fn exec(&self, n: &mut World, w: &World, t: usize, ev: &mut Events) {
        let pc = w.tasks[t].pc as usize;
        let next = (pc + 1) as u16;
        match self.ops[pc] {
            Op::Lock(l) => {
                n.locks[l as usize] = t as u8;
                n.tasks[t].pc = next;
                ev.push(EvKind::LockTaken, t, l as u16, 0);
            }
            Op::Unlock(l) => {
                n.locks[l as usize] = NONE;
                n.tasks[t].pc = next;
            }
            Op::Alloc(site) => self.exec_alloc(n, w, t, site, ev),
            Op::Free(p) => {
                let k = p.min(n.tasks[t].held);
                n.tasks[t].held -= k;
                n.free += k as u16;
                n.tasks[t].pc = next;
            }
            Op::Save { flags, slot } => {
                let task = &mut n.tasks[t];
                task.saved[slot as usize] = task.flags & flags;
                task.flags |= flags;
                task.pc = next;
            }
            Op::Restore { flags, slot } => {
                let task = &mut n.tasks[t];
                task.flags = (task.flags & !flags) | task.saved[slot as usize];
                task.saved[slot as usize] = 0;
                task.pc = next;
            }
            Op::Prctl => {
                let task = &mut n.tasks[t];
                task.flags |= F_NOIO | F_LT;
                task.pc = next;
            }
            Op::RepInit { slot, n: count } => {
                n.tasks[t].rep[slot as usize] = count;
                n.tasks[t].pc = next;
            }
            Op::RepBack { slot, target } => {
                let task = &mut n.tasks[t];
                task.rep[slot as usize] = task.rep[slot as usize].saturating_sub(1);
                task.pc = if task.rep[slot as usize] > 0 {
                    target
                } else {
                    next
                };
            }
            Op::Submit { dev, write, pages } => {
                self.submit(n, t, dev, write, pages);
                n.tasks[t].st = ST_OP_IO;
            }
            Op::Writeback { fs } => {
                let dirty = n.fs[fs as usize].dirty.min(255) as u8;
                if dirty == 0 {
                    n.tasks[t].pc = next;
                } else {
                    self.submit(n, t, self.fs_dev[fs as usize], true, dirty);
                    n.tasks[t].st = ST_OP_IO;
                }
            }
            Op::TakeReserve(b, end) => {
                let task = &mut n.tasks[t];
                task.pc = next;
                if task.bits & B_FAILED != 0 {
                    if n.bufio[b as usize].reserve > 0 {
                        n.bufio[b as usize].reserve -= 1;
                        task.bits = (task.bits | B_RESERVE) & !B_FAILED;
                    } else {
                        task.bits &= !B_FAILED;
                        task.pc = end;
                        ev.push(EvKind::Enomem, t, 0, 0);
                    }
                }
            }
            Op::ReleaseBuf(b) => {
                let task = &mut n.tasks[t];
                if task.bits & B_RESERVE != 0 {
                    task.bits &= !B_RESERVE;
                    n.bufio[b as usize].reserve += 1;
                } else if task.held > 0 {
                    task.held -= 1;
                    n.bufio[b as usize].clean = n.bufio[b as usize].clean.saturating_add(1);
                }
                task.pc = next;
            }
            Op::Complete => {
                let sub = w.tasks[t].serving;
                if sub != NONE {
                    n.tasks[sub as usize].bio_st = BIO_DONE;
                }
                let task = &mut n.tasks[t];
                task.serving = NONE;
                task.st = ST_IDLE;
                task.bits &= !B_FAILED;
            }
            Op::Exit => {
                let task = &mut n.tasks[t];
                n.free += task.held as u16;
                task.held = 0;
                task.st = ST_DONE;
                task.bits = 0;
                ev.push(EvKind::TaskDone, t, 0, 0);
            }
        }
    }

    fn exec_alloc(&self, n: &mut World, w: &World, t: usize, site: u16, ev: &mut Events) {
        let sc = *self.site_ctx(w, t, site);
        let info = &self.sites[site as usize];
        let pages = self.site_pages(w, t, site);
        let bits = w.tasks[t].bits;
        if bits & B_IN_ALLOC == 0 {
            ev.push(EvKind::AllocStart, t, site, 0);
            n.tasks[t].bits |= B_IN_ALLOC;
        }
        if bits & B_RECLAIMING != 0 && !self.fits(w, t, site) {
            // In reclaim with nothing to reclaim: OOM-kill, or give up.
            if sc.retries == Retries::Forever {
                if let Some(v) = self.oom_victim(w) {
                    let victim = &mut n.tasks[v];
                    n.free += victim.held as u16;
                    victim.held = 0;
                    victim.st = ST_KILLED;
                    n.tasks[t].bits &= !B_RECLAIMING;
                    ev.push(EvKind::OomKill, v, 0, 0);
                }
                return;
            }
            self.alloc_fail(n, t, site, ev);
            return;
        }
        if self.fits(w, t, site) {
            n.free -= pages;
            if n.free < self.sc.memory.low && sc.wakes && self.kswapd.is_some() {
                n.kswapd_awake = true;
            }
            match info.dest {
                Dest::Held => {
                    n.tasks[t].held = n.tasks[t].held.saturating_add(pages.min(255) as u8)
                }
                Dest::Dirty(f) => n.fs[f as usize].dirty += pages,
                Dest::Clean(f) => n.fs[f as usize].clean += pages,
            }
            let task = &mut n.tasks[t];
            task.bits &= !(B_ROUND | B_FAILED | B_IN_ALLOC | B_RECLAIMING);
            task.pc = info.on_ok;
            ev.push(EvKind::AllocOk, t, site, pages);
            return;
        }
        if sc.wakes && self.kswapd.is_some() {
            n.kswapd_awake = true;
        }
        if !sc.direct || bits & B_ROUND != 0 && sc.retries == Retries::Once {
            self.alloc_fail(n, t, site, ev);
            return;
        }
        // __alloc_pages_direct_reclaim: the next step picks what to reclaim.
        n.tasks[t].bits |= B_RECLAIMING;
    }

    /// The allocation returns NULL.
    fn alloc_fail(&self, n: &mut World, t: usize, site: u16, ev: &mut Events) {
        let info = &self.sites[site as usize];
        let task = &mut n.tasks[t];
        task.bits = (task.bits | B_FAILED) & !(B_ROUND | B_IN_ALLOC | B_RECLAIMING);
        task.pc = info.on_fail;
        ev.push(EvKind::AllocFail, t, site, !info.fallback as u16);
    }

    /// Every page some context could reclaim right now (reach's denominator).
    pub(crate) fn reclaimable(&self, w: &World) -> u16 {
        let full = Reclaim::Bufio {
            lock: LockMode::Blocking,
            write_dirty: true,
        };
        (0..self.srcs.len())
            .map(|s| self.freeable(w, s, full))
            .sum()
    }

    /// Liveness hint for the checker: does this step count as progress?
    /// Progress is an allocation returning (success, NULL or -ENOMEM: the
    /// caller moves on), a lock taken, reclaim freeing pages, a task ending
    /// or being OOM-killed. Anything else (a reclaim round that frees
    /// nothing, a retry, kswapd going back to sleep, moving a bio along) is
    /// not; a reachable cycle made only of such steps is a livelock. Program
    /// counters only go back through a `repeat` whose counter shrinks, so
    /// program steps cannot close a false cycle.
    pub fn is_progress(&self, w: &World, c: Choice) -> bool {
        let mut events = Events::default();
        self.step_ev(w, c, &mut events);
        events.iter().any(|e| match e.kind {
            EvKind::AllocOk
            | EvKind::AllocFail
            | EvKind::Enomem
            | EvKind::LockTaken
            | EvKind::TaskDone
            | EvKind::OomKill => true,
            EvKind::ReclaimDone => e.b > 0,
            EvKind::None | EvKind::AllocStart | EvKind::ReclaimEnter => false,
        })
    }

    /// Pages the sources `t` may touch could give back (seed 003's "reach").
    pub(crate) fn reach(&self, w: &World, t: usize, ctx: &ReclaimCtx) -> u16 {
        let cid = self.ctxs.iter().position(|c| c == ctx).unwrap_or(0) as u16;
        (0..self.srcs.len())
            .filter_map(|s| self.touch_c(w, t, cid, s).map(|r| self.freeable(w, s, r)))
            .sum()
    }

    // ---- status ------------------------------------------------------------

    /// Something has not finished: a user task, or an actor mid-work.
    pub(crate) fn unfinished(&self, w: &World) -> bool {
        (0..w.nt as usize).any(|t| {
            let st = w.tasks[t].st;
            match self.tasks[t].kind {
                Kind::User => st != ST_DONE && st != ST_KILLED,
                _ => st != ST_IDLE,
            }
        })
    }

    pub fn status(&self, w: &World) -> Status {
        let mut buf = Vec::new();
        self.choices(w, &mut buf);
        if !buf.is_empty() {
            return Status::Running;
        }
        self.final_status(w)
    }

    /// The status of a world known to have no choices.
    pub fn final_status(&self, w: &World) -> Status {
        if !self.unfinished(w) {
            return Status::Completed;
        }
        if self.wait_for_cycle(w).is_some() {
            Status::Deadlock
        } else {
            Status::Stuck
        }
    }

    /// Partial-order hint: the step touches only the task's private state.
    pub fn is_local(&self, w: &World, c: Choice) -> bool {
        if c.kind != ChoiceKind::Run {
            return false;
        }
        let task = &w.tasks[c.task as usize];
        if task.st != ST_READY {
            return false;
        }
        match self.ops[task.pc as usize] {
            Op::Save { .. }
            | Op::Restore { .. }
            | Op::Prctl
            | Op::RepInit { .. }
            | Op::RepBack { .. } => true,
            Op::TakeReserve(..) => task.bits & B_FAILED == 0,
            _ => false,
        }
    }
}

// ---- events ------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum EvKind {
    #[default]
    None,
    AllocStart,
    /// `a` = site, `b` = pages.
    AllocOk,
    /// `a` = site, `b` = 1 when the caller sees -ENOMEM (no fallback).
    AllocFail,
    /// A dm-bufio read with no reserve to fall back on returns -ENOMEM.
    Enomem,
    /// A direct-reclaim round begins: `a` = reach (pages), `b` = source.
    ReclaimEnter,
    /// `a` = source, `b` = pages freed.
    ReclaimDone,
    OomKill,
    /// `a` = lock.
    LockTaken,
    TaskDone,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Event {
    pub kind: EvKind,
    pub task: u8,
    pub a: u16,
    pub b: u16,
    /// `ReclaimEnter`: every reclaimable page at that moment.
    pub c: u16,
}

/// What one step did (at most four events).
#[derive(Clone, Copy, Debug, Default)]
pub struct Events {
    pub n: u8,
    pub ev: [Event; 4],
}

impl Events {
    fn push(&mut self, kind: EvKind, task: usize, a: u16, b: u16) {
        if (self.n as usize) < self.ev.len() {
            self.ev[self.n as usize] = Event {
                kind,
                task: task as u8,
                a,
                b,
                c: 0,
            };
            self.n += 1;
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.ev[..self.n as usize].iter()
    }
}

// ---- dependencies (for dependency-aware and sb-context) ----------------------

/// Answers the model's [`Deps`] questions for task `t` from the topology
/// and the world: which locks it holds, who serves the bios a source would
/// need, and what those servers need in turn.
pub(crate) struct WorldDeps<'a> {
    pub sim: &'a Sim,
    pub w: &'a World,
    pub t: usize,
}

impl WorldDeps<'_> {
    fn lock_dep(&self, l: usize, seen: &mut u32) -> bool {
        let o = self.w.locks[l];
        o != NONE && self.task_dep(o as usize, seen)
    }

    /// Task `u` cannot progress until `t` does.
    fn task_dep(&self, u: usize, seen: &mut u32) -> bool {
        if u == self.t {
            return true;
        }
        if *seen & (1 << u) != 0 {
            return false;
        }
        *seen |= 1 << u;
        let sim = self.sim;
        let task = &self.w.tasks[u];
        match task.st {
            ST_READY => match sim.ops[task.pc as usize] {
                Op::Lock(l) => self.lock_dep(l as usize, seen),
                _ => false,
            },
            ST_REC => {
                let l = sim.srcs[task.rsrc as usize].locks[task.rstep as usize];
                self.lock_dep(l as usize, seen)
            }
            ST_REC_IO | ST_OP_IO => match task.bio_st {
                BIO_QUEUED => self.dev_dep(task.bio_dev as usize, seen),
                BIO_SERVING => (0..self.w.nt as usize)
                    .find(|&s| {
                        self.w.tasks[s].serving as usize == u && self.w.tasks[s].st != ST_IDLE
                    })
                    .is_some_and(|s| self.task_dep(s, seen)),
                _ => false,
            },
            _ => false,
        }
    }

    /// A new bio on served device `d` cannot complete until `t` progresses.
    fn dev_dep(&self, d: usize, seen: &mut u32) -> bool {
        let info = &self.sim.devs[d];
        if info.disk {
            return false;
        }
        let all_servers = info.servers.iter().all(|&s| {
            let s = s as usize;
            s == self.t || self.w.tasks[s].st != ST_IDLE && self.task_dep(s, &mut seen.clone())
        });
        all_servers
            || info
                .serve_locks
                .iter()
                .any(|&l| self.lock_dep(l as usize, &mut seen.clone()))
    }
}

impl Deps for WorldDeps<'_> {
    fn holds_lock_needed_by(&self, src: &Source) -> bool {
        self.sim.srcs[src.id as usize]
            .locks
            .iter()
            .any(|&l| self.w.locks[l as usize] == self.t as u8)
    }

    fn depends_on_ctx(&self, src: &Source) -> bool {
        let info = &self.sim.srcs[src.id as usize];
        let mut seen = 0u32;
        if info
            .locks
            .iter()
            .any(|&l| self.lock_dep(l as usize, &mut seen.clone()))
        {
            return true;
        }
        let needs_io = match info.kind {
            SrcKind::Clean(_) => false,
            SrcKind::Anon => true,
            SrcKind::Sb(f) => self.w.fs[f as usize].dirty_inodes > 0,
            SrcKind::Bufio(b) => self.w.bufio[b as usize].dirty > 0,
        };
        needs_io
            && info
                .io_dev
                .is_some_and(|d| self.dev_dep(d as usize, &mut seen))
    }
}

impl Sim {
    pub(crate) fn is_kswapd(&self, t: usize) -> bool {
        self.tasks[t].kind == Kind::Kswapd
    }

    /// Tasks waiting for lock `l` (held by someone else) in `w`.
    pub(crate) fn waiters(&self, w: &World, l: usize) -> u32 {
        let owner = w.locks[l];
        let mut n = 0;
        for t in 0..w.nt as usize {
            if t as u8 == owner {
                continue;
            }
            let task = &w.tasks[t];
            let waiting = match task.st {
                ST_READY => self.ops[task.pc as usize] == Op::Lock(l as u8),
                ST_REC => {
                    self.srcs[task.rsrc as usize].locks.get(task.rstep as usize) == Some(&(l as u8))
                }
                _ => false,
            };
            n += waiting as u32;
        }
        n
    }
}

/// Records whether the policy consulted the world.
struct Probe(std::cell::Cell<bool>);

impl Deps for Probe {
    fn holds_lock_needed_by(&self, _: &Source) -> bool {
        self.0.set(true);
        false
    }
    fn depends_on_ctx(&self, _: &Source) -> bool {
        self.0.set(true);
        false
    }
}

/// The policy's answer for every (context, source) pair whose answer does
/// not depend on the world; `None` where it asked about dependencies.
fn answer_cache(policy: Policy, ctxs: &[ReclaimCtx], srcs: &[SrcInfo]) -> Vec<Option<Reclaim>> {
    let mut out = Vec::with_capacity(ctxs.len() * srcs.len());
    for ctx in ctxs {
        for src in srcs {
            let probe = Probe(std::cell::Cell::new(false));
            let r = policy.touch(ctx, &src.src, &probe);
            out.push((!probe.0.get()).then_some(r));
        }
    }
    out
}
