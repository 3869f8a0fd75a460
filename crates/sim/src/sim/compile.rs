//! Compiling a scenario for one policy: programs become ops, allocation
//! sites get the model's answer for every flags combination, reclaim
//! sources and device servers are laid out, and the initial world is built.

use super::deps::answer_cache;
use super::*;
use crate::program::Stmt;
use crate::scenario::{Scenario, ScenarioError};
use reclaimscope_model::Gfp;
use reclaimscope_model::alloc::{Oom, slow_path};
use reclaimscope_model::history::{BufioAlloc, LockKind, VmallocMode};
use reclaimscope_model::policy::AllocSite;
use reclaimscope_model::reclaim::{FsCtx, Source, SourceKind};
use reclaimscope_model::task::Scope;

fn scope_flags(s: Scope) -> u8 {
    task_to_flags(s.flag())
}

/// Pages each fs gets dirtied by the `write`s of `prog` (one pass).
fn written(prog: &[Stmt]) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    for s in prog {
        let add = match s {
            Stmt::Write { fs, pages } => vec![(*fs, *pages as u16)],
            Stmt::Repeat { n, body } => written(body)
                .into_iter()
                .enumerate()
                .map(|(f, p)| (f, p.saturating_mul(*n as u16)))
                .collect(),
            _ => vec![],
        };
        for (f, p) in add {
            if out.len() <= f {
                out.resize(f + 1, 0);
            }
            out[f] = out[f].saturating_add(p);
        }
    }
    out
}

pub(super) struct Compiler<'a> {
    pub(super) sc: &'a Scenario,
    pub(super) policy: Policy,
    pub(super) ops: Vec<Op>,
    pub(super) sites: Vec<Site>,
    pub(super) fs_ctx: Vec<FsCtx>,
    /// Pages the task being compiled has dirtied per fs since its last fsync.
    pub(super) pending: Vec<u16>,
    /// The backing fs of the daemon whose serve program is being compiled.
    pub(super) serving_fs: Option<u8>,
    pub(super) err: Option<String>,
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
        let counts_rounds = table.iter().any(|e| e.retries == Retries::Once);
        self.sites.push(Site {
            gfp,
            pages,
            order,
            dest,
            kind,
            fallback,
            counts_rounds,
            table,
            on_ok: 0,
            on_fail: 0,
        });
        (self.sites.len() - 1) as u16
    }

    /// Emit an allocation; by default the program continues with the next op.
    pub(super) fn push_alloc(&mut self, site: u16) {
        let next = self.pc() + 1;
        let s = &mut self.sites[site as usize];
        s.on_ok = next;
        s.on_fail = next;
        self.ops.push(Op::Alloc(site));
    }

    pub(super) fn pc(&self) -> u16 {
        self.ops.len() as u16
    }

    pub(super) fn scoped(
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

    pub(super) fn stmts(
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
                Stmt::Write { fs, pages } => {
                    self.pending[*fs] = self.pending[*fs].saturating_add(*pages as u16);
                    self.file_write(*fs as u8, *pages, false, depth)
                }
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
                // fsync(2) writes back the file's own dirty pages (what this
                // task's writes dirtied since its last fsync), not the whole
                // fs (that is syncfs).
                Stmt::Fsync { fs } => {
                    let pages = std::mem::take(&mut self.pending[*fs]).min(255) as u8;
                    self.ops.push(Op::Writeback {
                        fs: *fs as u8,
                        pages,
                    });
                }
                Stmt::BufioRead { bufio, blocks } => {
                    for _ in 0..*blocks {
                        self.bufio_read(*bufio as u8, task_fs);
                    }
                }
                // Before v5.6 the prctl fails with -EINVAL: nothing changes.
                // The request's pages (0: as many as the bio carries) to the
                // backing file, as a server: mapping-nofs and rwf-nofsreclaim
                // see it.
                Stmt::Pwrite => {
                    if let Some(f) = self.serving_fs {
                        self.file_write(f, 0, true, depth);
                    }
                }
                Stmt::Send { pages } => {
                    let s = self.site(
                        Gfp::KERNEL,
                        *pages,
                        0,
                        Dest::Held,
                        SiteKind::Skb,
                        None,
                        false,
                        false,
                    );
                    self.push_alloc(s);
                    self.ops.push(Op::Free(*pages));
                }
                Stmt::PrctlIoFlusher if self.sc.io_flusher_prctl => self.ops.push(Op::Prctl),
                Stmt::PrctlIoFlusher => {}
                Stmt::Repeat { n, body } => {
                    if rep as usize >= REP_SLOTS {
                        self.err = Some(format!("repeat nests at most {REP_SLOTS} deep"));
                        return;
                    }
                    // A later iteration's fsync also sees what the body
                    // wrote after its fsync in the iteration before.
                    for (f, p) in written(body).into_iter().enumerate() {
                        self.pending[f] = self.pending[f].saturating_add(p);
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
    pub(super) fn file_write(&mut self, f: u8, pages: u8, server: bool, depth: &mut u8) {
        let fs = &self.sc.fss[f as usize];
        let locks: Vec<u8> = fs.write_locks.iter().map(|&l| l as u8).collect();
        let gfp = fs.write_gfp;
        let through = fs.write_through.then_some(fs.dev as u8);
        let scope = self.policy.file_io_scope(server);
        let site = self.site(
            gfp,
            pages,
            0,
            if through.is_some() {
                Dest::Clean(f)
            } else {
                Dest::Dirty(f)
            },
            SiteKind::PageCache(f),
            Some(f),
            server,
            false,
        );
        // A transaction (jbd2 handle, XFS/btrfs transaction) is started
        // after the page-cache page is grabbed: ext4_write_begin calls
        // grab_cache_page_write_begin before ext4_journal_start
        // (fs/ext4/inode.c), iomap_write_begin takes the folio with no
        // transaction open (fs/iomap/buffered-io.c). Plain locks (i_rwsem)
        // are held across the allocation.
        let is_trans = |l: u8| self.sc.lock_kinds[l as usize] != LockKind::Mutex;
        let (after, before): (Vec<u8>, Vec<u8>) = locks.iter().partition(|&&l| is_trans(l));
        self.scoped(scope, depth, |c, _| {
            for &l in &before {
                c.ops.push(Op::Lock(l));
            }
            c.push_alloc(site);
            for &l in &after {
                c.ops.push(Op::Lock(l));
            }
            for &l in locks.iter().rev() {
                c.ops.push(Op::Unlock(l));
            }
            // Write-through: the request goes to the fs's device and the
            // write returns when it completes.
            if let Some(dev) = through {
                c.ops.push(Op::Submit {
                    dev,
                    write: true,
                    pages: pages.max(1),
                });
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
    pub(super) fn page_cache_site(&mut self, gfp: Gfp, pages: u8, f: u8, lower: bool) -> u16 {
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
            pending: vec![0; sc.fss.len()],
            serving_fs: None,
            err: None,
        };
        let mut tasks = Vec::new();
        // Tasks with the same program, filesystem, scope and repeat count
        // share one compiled program (same start pc), so the checker's
        // symmetry reduction sees them as interchangeable.
        let mut compiled: Vec<(&crate::scenario::TaskSpec, u16)> = Vec::new();
        for t in &sc.tasks {
            let same = |(u, _): &&(&crate::scenario::TaskSpec, u16)| {
                (&u.program, u.fs, u.scope, u.repeat) == (&t.program, t.fs, t.scope, t.repeat)
            };
            if let Some(&(_, start)) = compiled.iter().find(same) {
                tasks.push(TaskInfo {
                    name: t.name.clone(),
                    kind: Kind::User,
                    start,
                    flags: 0,
                });
                continue;
            }
            c.pending.iter_mut().for_each(|p| *p = 0);
            let start = c.pc();
            compiled.push((t, start));
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
        let (mut devs, server_tasks) = c.device_servers();
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
            // Eviction work that needs the fs's locks, unless deferred to a
            // worker (XFS inodegc from v5.14).
            let locks = if fs.inactivate_in_reclaim {
                fs.shrinker_locks.iter().map(|&l| l as u8).collect()
            } else {
                vec![]
            };
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
            nofs_locks: sc
                .lock_nofs
                .iter()
                .enumerate()
                .filter(|(_, n)| **n)
                .fold(0u32, |m, (l, _)| m | 1 << l),
            init: w,
        })
    }
}
