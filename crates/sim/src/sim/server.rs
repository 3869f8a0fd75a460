//! Device servers: the loop worker (a kernel thread doing
//! `vfs_iter_write()` on the backing file) and userspace daemons
//! (tcmu-runner, ublk, FUSE) taking a bio from their device's queue.

use super::compile::Compiler;
use super::*;
use crate::scenario::DevKind;

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
        (devs, server_tasks)
    }
}
