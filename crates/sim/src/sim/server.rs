//! Device servers: the loop worker (a kernel thread doing
//! `vfs_iter_write()` on the backing file) and userspace daemons
//! (tcmu-runner, ublk, FUSE) taking a bio from their device's queue.

use super::compile::Compiler;
use super::*;
use crate::program::Stmt;
use crate::scenario::{DevKind, Scenario};

impl Sim {
    /// Server task `t` takes the bio task `j` submitted.
    pub(super) fn serve(&self, n: &mut World, w: &World, t: usize, j: usize) {
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
}

/// A server thread to create: device, name, kernel thread?, task flags.
pub(super) type ServerTask = (usize, String, bool, u8);

impl Compiler<'_> {
    /// The programs device servers run per bio (a write: pwrite of the
    /// backing file; a read: its page cache), and their threads.
    pub(super) fn device_servers(&mut self) -> (Vec<DevInfo>, Vec<ServerTask>) {
        let sc = self.sc;
        let policy = self.policy;
        let c = self;
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
            let pwrite = [Stmt::Pwrite];
            let (fs, threads, kernel, base, name, serve) = match &dev.kind {
                DevKind::Loop { fs, noio, .. } => {
                    let base = if *noio { F_NOIO | F_LT } else { 0 };
                    (
                        Some(*fs),
                        1,
                        true,
                        base,
                        format!("{} worker", dev.name),
                        &pwrite[..],
                    )
                }
                DevKind::Daemon {
                    fs,
                    threads,
                    process,
                    io_flusher,
                    serve,
                    ..
                } => {
                    // prctl(PR_SET_IO_FLUSHER) at startup, inherited by its threads.
                    let base = if *io_flusher { F_NOIO | F_LT } else { 0 };
                    (*fs, *threads, false, base, process.clone(), &serve[..])
                }
                _ => {
                    devs.push(info);
                    continue;
                }
            };
            let mut locks = Vec::new();
            serve_locks(sc, serve, fs, &mut locks);
            info.serve_locks = locks;
            // A write request: the serve program (default: pwrite of the
            // backing file, `vfs_iter_write` for loop).
            info.write_pc = c.pc();
            let mut depth = 0;
            c.serving_fs = fs.map(|f| f as u8);
            c.pending.iter_mut().for_each(|p| *p = 0);
            c.stmts(serve, None, &mut depth, 0, &mut Vec::new());
            c.serving_fs = None;
            c.ops.push(Op::Complete);
            // A read request: pread fills the backing file's page cache; a
            // socket's reply arrives in skbs allocated in softirq
            // (GFP_ATOMIC: no reclaim), so nothing to model.
            info.read_pc = c.pc();
            if let Some(fs) = fs {
                let f = fs as u8;
                let gfp = sc.fss[fs].write_gfp;
                let site = c.page_cache_site(gfp, 0, f, true);
                let scope = policy.file_io_scope(true);
                c.scoped(scope, &mut depth, |c, _| c.push_alloc(site));
            }
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
        (devs, server_tasks)
    }
}

/// Locks a served request takes: its program's `lock`s and the write locks
/// of the files it writes (the dependency policies ask who holds them).
fn serve_locks(sc: &Scenario, prog: &[Stmt], fs: Option<usize>, out: &mut Vec<u8>) {
    for s in prog {
        let add: Vec<usize> = match s {
            Stmt::Lock(l) => vec![*l],
            Stmt::Pwrite => fs.map_or(vec![], |f| sc.fss[f].write_locks.clone()),
            Stmt::Write { fs, .. } => sc.fss[*fs].write_locks.clone(),
            Stmt::Repeat { body, .. } => {
                serve_locks(sc, body, fs, out);
                vec![]
            }
            _ => vec![],
        };
        for l in add {
            if !out.contains(&(l as u8)) {
                out.push(l as u8);
            }
        }
    }
}
