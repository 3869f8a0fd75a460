//! Verifying a guessed subtree renaming on the compiled simulator: every
//! table `step` reads must map onto itself (see the parent module's docs
//! for why that suffices).

use super::{Renaming, Subtrees};
use crate::sim::{Dest, Kind, Op, Sim, SiteKind, SrcKind};
use reclaimscope_model::policy::ReclaimCtx;

impl Subtrees {
    /// Does `r` map the compiled `sim` onto itself?
    pub(super) fn verify(&self, sim: &Sim, r: &Renaming) -> bool {
        let n_ops = sim.ops.len();
        let pc = |p: u16| self.pc(r, p);
        // Renamings are permutations of every kind of id.
        let perm_ok = |map: &[u8], n: usize| {
            let mut seen = vec![false; n];
            (0..n).all(|i| {
                let j = map[i] as usize;
                j < n && !std::mem::replace(&mut seen[j], true)
            })
        };
        if !perm_ok(&r.task, sim.tasks.len())
            || !perm_ok(&r.dev, sim.devs.len())
            || !perm_ok(&r.fs, sim.fs_dev.len())
            || !perm_ok(&r.lock, sim.sc.locks.len())
            || !perm_ok(&r.src, sim.srcs.len())
        {
            return false;
        }
        let mut seen = vec![false; n_ops];
        for p in 0..n_ops as u16 {
            let q = pc(p) as usize;
            if q >= n_ops || std::mem::replace(&mut seen[q], true) {
                return false;
            }
        }
        // Ops, with the allocation sites they name.
        let mut site_map = vec![u16::MAX; sim.sites.len()];
        for p in 0..n_ops as u16 {
            let op = sim.ops[p as usize];
            let q = pc(p);
            // A program falls through to the next op everywhere but at its end.
            if !matches!(op, Op::Exit | Op::Complete)
                && (p as usize + 1) < n_ops
                && pc(p + 1) != q + 1
            {
                return false;
            }
            let renamed = match op {
                Op::Lock(l) => Op::Lock(r.lock[l as usize]),
                Op::Unlock(l) => Op::Unlock(r.lock[l as usize]),
                Op::Alloc(s) => match sim.ops[q as usize] {
                    Op::Alloc(s2) => {
                        if site_map[s as usize] != u16::MAX && site_map[s as usize] != s2 {
                            return false;
                        }
                        site_map[s as usize] = s2;
                        Op::Alloc(s2)
                    }
                    _ => return false,
                },
                Op::RepBack { slot, target } => Op::RepBack {
                    slot,
                    target: pc(target),
                },
                Op::Submit { dev, write, pages } => Op::Submit {
                    dev: r.dev[dev as usize],
                    write,
                    pages,
                },
                Op::Writeback { fs, pages } => Op::Writeback {
                    fs: r.fs[fs as usize],
                    pages,
                },
                Op::TakeReserve(b, end) => Op::TakeReserve(b, pc(end)),
                other => other,
            };
            if sim.ops[q as usize] != renamed {
                return false;
            }
        }
        // Sites (every site is named by an op), and the contexts they intern.
        if site_map.contains(&u16::MAX) {
            return false;
        }
        let mut ctx_map = vec![u16::MAX; sim.ctxs.len()];
        let ren_ctx = |c: &ReclaimCtx| {
            let mut c = *c;
            if let Some(f) = &mut c.fs {
                f.sb = u16::from(r.fs[f.sb as usize]);
            }
            c
        };
        for (s, &s2) in site_map.iter().enumerate() {
            let (a, b) = (&sim.sites[s], &sim.sites[s2 as usize]);
            let dest = match a.dest {
                Dest::Held => Dest::Held,
                Dest::Dirty(f) => Dest::Dirty(r.fs[f as usize]),
                Dest::Clean(f) => Dest::Clean(r.fs[f as usize]),
            };
            let kind = match a.kind {
                SiteKind::PageCache(f) => SiteKind::PageCache(r.fs[f as usize]),
                k => k,
            };
            if (
                a.gfp,
                a.pages,
                a.order,
                dest,
                kind,
                a.fallback,
                a.counts_rounds,
            ) != (
                b.gfp,
                b.pages,
                b.order,
                b.dest,
                b.kind,
                b.fallback,
                b.counts_rounds,
            ) || pc(a.on_ok) != b.on_ok
                || pc(a.on_fail) != b.on_fail
                || a.table.len() != b.table.len()
            {
                return false;
            }
            for (x, y) in a.table.iter().zip(&b.table) {
                if ren_ctx(&x.ctx) != y.ctx
                    || (x.direct, x.wakes, x.retries, x.oom, x.eighths)
                        != (y.direct, y.wakes, y.retries, y.oom, y.eighths)
                {
                    return false;
                }
                let m = &mut ctx_map[x.cid as usize];
                if *m != u16::MAX && *m != y.cid {
                    return false;
                }
                *m = y.cid;
            }
        }
        let k = sim.kswapd_cid as usize;
        if ctx_map[k] != u16::MAX && ctx_map[k] != k as u16
            || ren_ctx(&sim.kswapd_ctx) != sim.kswapd_ctx
        {
            return false;
        }
        ctx_map[k] = k as u16;
        if ctx_map.contains(&u16::MAX)
            || (0..sim.ctxs.len()).any(|c| ren_ctx(&sim.ctxs[c]) != sim.ctxs[ctx_map[c] as usize])
        {
            return false;
        }
        // The policy's world-independent answers.
        let ns = sim.srcs.len();
        for (c, &to_c) in ctx_map.iter().enumerate() {
            for s in 0..ns {
                let to = to_c as usize * ns + r.src[s] as usize;
                if sim.cache[c * ns + s] != sim.cache[to] {
                    return false;
                }
            }
        }
        // Tasks.
        for (t, a) in sim.tasks.iter().enumerate() {
            let b = &sim.tasks[r.task[t] as usize];
            let (kind, start) = match a.kind {
                Kind::User => (Kind::User, pc(a.start)),
                Kind::Server { dev, kernel } => (
                    Kind::Server {
                        dev: r.dev[dev as usize],
                        kernel,
                    },
                    a.start,
                ),
                k => (k, a.start),
            };
            if (kind, start, a.flags) != (b.kind, b.start, b.flags) {
                return false;
            }
            // The OOM killer breaks ties between programs by slot.
            if sim.sc.memory.oom_killer && a.kind == Kind::User && r.task[t] as usize != t {
                return false;
            }
        }
        if sim.kswapd.is_some_and(|k| r.task[k as usize] != k) {
            return false;
        }
        // Sources.
        for (s, a) in sim.srcs.iter().enumerate() {
            let b = &sim.srcs[r.src[s] as usize];
            let kind = match a.kind {
                SrcKind::Clean(f) => SrcKind::Clean(r.fs[f as usize]),
                SrcKind::Sb(f) => SrcKind::Sb(r.fs[f as usize]),
                k => k,
            };
            let mut src = a.src;
            src.id = u16::from(r.src[s]);
            if let Some(f) = &mut src.fs {
                f.sb = u16::from(r.fs[f.sb as usize]);
            }
            let locks: Vec<u8> = a.locks.iter().map(|&l| r.lock[l as usize]).collect();
            let dev = |d: Option<u8>| d.map(|d| r.dev[d as usize]);
            if (kind, src, locks, dev(a.io_dev), dev(a.submit_dev))
                != (b.kind, b.src, b.locks.clone(), b.io_dev, b.submit_dev)
            {
                return false;
            }
        }
        // Devices.
        for (d, a) in sim.devs.iter().enumerate() {
            let b = &sim.devs[r.dev[d] as usize];
            let servers: Vec<u8> = a.servers.iter().map(|&t| r.task[t as usize]).collect();
            let locks: Vec<u8> = a.serve_locks.iter().map(|&l| r.lock[l as usize]).collect();
            if (r.dev[a.resolved as usize], a.disk, servers, locks)
                != (b.resolved, b.disk, b.servers.clone(), b.serve_locks.clone())
                || !a.servers.is_empty()
                    && (pc(a.write_pc), pc(a.read_pc)) != (b.write_pc, b.read_pc)
            {
                return false;
            }
        }
        // Filesystems: their device and how their shrinker treats dirty inodes.
        for f in 0..sim.fs_dev.len() {
            let g = r.fs[f] as usize;
            if r.dev[sim.fs_dev[f] as usize] != sim.fs_dev[g]
                || sim.sb_writes(f) != sim.sb_writes(g)
            {
                return false;
            }
        }
        for l in 0..sim.sc.locks.len() {
            let bit = |l: usize| sim.nofs_locks >> l & 1;
            if bit(l) != bit(r.lock[l] as usize) {
                return false;
            }
        }
        self.apply(&sim.init, r) == sim.init
    }
}
