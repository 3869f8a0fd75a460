//! Graphviz DOT: the storage stack (devices, filesystems, who serves
//! whom, the user tasks and the locks they and the filesystems take) and a
//! deadlock's wait-for cycle.

use crate::program::Stmt;
use crate::scenario::{DevKind, Scenario};
use crate::sim::Sim;
use crate::story::WaitEdge;
use std::fmt::Write;

/// A quoted DOT id; labels keep their `\n` line breaks.
fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The stack: filesystems on devices, devices on lower devices or on files
/// of lower filesystems, the tasks that serve them, dm-bufio clients, swap.
pub fn stack_dot(sc: &Scenario) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph {} {{", q(&sc.name));
    s.push_str("  rankdir=BT;\n  node [fontname=\"monospace\"];\n");
    for d in &sc.devices {
        let (shape, label) = match &d.kind {
            DevKind::Disk => ("cylinder", format!("{}\\ndisk", d.name)),
            DevKind::Loop { noio, .. } => (
                "box",
                format!(
                    "{}\\nloop{}",
                    d.name,
                    if *noio { " (NOIO worker)" } else { "" }
                ),
            ),
            DevKind::Dm { target, .. } => ("box", format!("{}\\ndm-{target}", d.name)),
            DevKind::Daemon {
                kind,
                queue_depth,
                threads,
                ..
            } => (
                "box",
                if *threads == 1 {
                    format!("{}\\n{kind} (QD={queue_depth})", d.name)
                } else {
                    format!("{}\\n{kind} (QD={queue_depth}, {threads} threads)", d.name)
                },
            ),
        };
        let _ = writeln!(
            s,
            "  {} [shape={shape}, label={}];",
            q(&format!("dev:{}", d.name)),
            q(&label)
        );
    }
    for f in &sc.fss {
        let label = format!(
            "{} ({})\\nclean {} dirty {} inodes {}",
            f.name, f.fstype, f.clean, f.dirty, f.inodes
        );
        let _ = writeln!(
            s,
            "  {} [shape=folder, label={}];",
            q(&format!("fs:{}", f.name)),
            q(&label)
        );
        let _ = writeln!(
            s,
            "  {} -> {} [label=\"mounted on\"];",
            q(&format!("fs:{}", f.name)),
            q(&format!("dev:{}", sc.devices[f.dev].name))
        );
    }
    for d in &sc.devices {
        let from = q(&format!("dev:{}", d.name));
        match &d.kind {
            DevKind::Dm { lower, .. } => {
                let _ = writeln!(
                    s,
                    "  {from} -> {} [label=\"forwards bios\"];",
                    q(&format!("dev:{}", sc.devices[*lower].name))
                );
            }
            DevKind::Loop { fs, file, .. } => {
                let worker = format!("task:{} worker", d.name);
                let _ = writeln!(
                    s,
                    "  {} [shape=ellipse, label={}];",
                    q(&worker),
                    q(&format!("{} worker", d.name))
                );
                let _ = writeln!(s, "  {} -> {from} [label=\"serves\"];", q(&worker));
                let _ = writeln!(
                    s,
                    "  {} -> {} [label={}];",
                    q(&worker),
                    q(&format!("fs:{}", sc.fss[*fs].name)),
                    q(&format!("file I/O {file}"))
                );
            }
            DevKind::Daemon {
                fs, file, process, ..
            } => {
                let t = format!("task:{process}");
                let _ = writeln!(s, "  {} [shape=ellipse, label={}];", q(&t), q(process));
                let _ = writeln!(s, "  {} -> {from} [label=\"serves\"];", q(&t));
                match fs {
                    Some(fs) => {
                        let _ = writeln!(
                            s,
                            "  {} -> {} [label={}];",
                            q(&t),
                            q(&format!("fs:{}", sc.fss[*fs].name)),
                            q(&format!("pread/pwrite {file}"))
                        );
                    }
                    None => {
                        let peer = format!("peer:{process}");
                        let _ = writeln!(s, "  {} [shape=cloud, label=\"remote peer\"];", q(&peer));
                        let _ = writeln!(s, "  {} -> {} [label=\"socket\"];", q(&t), q(&peer));
                    }
                }
            }
            DevKind::Disk => {}
        }
    }
    for b in &sc.bufios {
        let label = format!(
            "dm-bufio {}\\ngate {}, {}\\nclean {} dirty {} reserved {}",
            b.name,
            b.gate.name(),
            crate::scenario::alloc_name(b.alloc),
            b.clean,
            b.dirty,
            b.reserved
        );
        let _ = writeln!(
            s,
            "  {} [shape=component, label={}];",
            q(&format!("bufio:{}", b.name)),
            q(&label)
        );
        let _ = writeln!(
            s,
            "  {} -> {} [label=\"buffers on\"];",
            q(&format!("bufio:{}", b.name)),
            q(&format!("dev:{}", sc.devices[b.dev].name))
        );
    }
    locks_and_tasks(sc, &mut s);
    if let Some(d) = sc.memory.swap_dev {
        let _ = writeln!(
            s,
            "  \"swap\" [shape=note, label={}];",
            q(&format!(
                "swap: {} pages, anon {}",
                sc.memory.swap_pages, sc.memory.anon
            ))
        );
        let _ = writeln!(
            s,
            "  \"swap\" -> {};",
            q(&format!("dev:{}", sc.devices[d].name))
        );
    }
    s.push_str("}\n");
    s
}

/// What one task's program touches, in program order, each once.
#[derive(Default)]
struct Touches {
    locks: Vec<usize>,
    /// (filesystem, what the task does to it).
    fss: Vec<(usize, &'static str)>,
    bufios: Vec<usize>,
    /// Allocation masks written in the program (`kmalloc`, `__vmalloc`).
    allocs: Vec<String>,
    scopes: Vec<String>,
    io_flusher: bool,
}

fn touches(stmts: &[Stmt], t: &mut Touches) {
    let add_fs = |t: &mut Touches, fs: usize, what: &'static str| {
        if !t.fss.contains(&(fs, what)) {
            t.fss.push((fs, what));
        }
    };
    for st in stmts {
        match st {
            Stmt::Lock(l) if !t.locks.contains(l) => t.locks.push(*l),
            Stmt::Alloc { gfp, .. } | Stmt::Vmalloc { gfp, .. } => {
                let m = match st {
                    Stmt::Vmalloc { .. } => format!("__vmalloc({gfp})"),
                    _ => format!("alloc {gfp}"),
                };
                if !t.allocs.contains(&m) {
                    t.allocs.push(m);
                }
            }
            Stmt::Write { fs, .. } => add_fs(t, *fs, "writes"),
            Stmt::Fsync { fs } => add_fs(t, *fs, "fsync"),
            Stmt::Read { fs, .. } => add_fs(t, *fs, "reads"),
            Stmt::BufioRead { bufio, .. } if !t.bufios.contains(bufio) => t.bufios.push(*bufio),
            Stmt::Scope(sc) => {
                let name = format!("{}()", sc.save_fn());
                if !t.scopes.contains(&name) {
                    t.scopes.push(name);
                }
            }
            Stmt::PrctlIoFlusher => t.io_flusher = true,
            Stmt::Repeat { body, .. } => touches(body, t),
            _ => {}
        }
    }
}

/// Locks (who owns them: a filesystem's write path and shrinker, a dm-bufio
/// client) and the user tasks with what their programs take, write, read
/// and allocate, so a reader sees both halves of a cycle in one picture.
fn locks_and_tasks(sc: &Scenario, s: &mut String) {
    for l in &sc.locks {
        let _ = writeln!(
            s,
            "  {} [shape=hexagon, style=filled, fillcolor=\"#fff2cc\", label={}];",
            q(&format!("lock:{l}")),
            q(&format!("lock\\n{l}"))
        );
    }
    for f in &sc.fss {
        let fs = q(&format!("fs:{}", f.name));
        let mut needs: Vec<(usize, &str)> =
            f.write_locks.iter().map(|&l| (l, "write takes")).collect();
        for &l in &f.shrinker_locks {
            needs.push((l, "shrinker takes"));
        }
        for (l, label) in needs {
            let _ = writeln!(
                s,
                "  {fs} -> {} [style=dashed, label={}];",
                q(&format!("lock:{}", sc.locks[l])),
                q(label)
            );
        }
    }
    for b in &sc.bufios {
        let _ = writeln!(
            s,
            "  {} -> {} [style=dashed, label=\"dm_bufio_lock\"];",
            q(&format!("bufio:{}", b.name)),
            q(&format!("lock:{}", sc.locks[b.lock]))
        );
    }
    for task in &sc.tasks {
        let mut t = Touches::default();
        touches(&task.program, &mut t);
        let id = q(&format!("user:{}", task.name));
        let mut label = vec![format!("task {}", task.name)];
        if let Some(scope) = task.scope {
            label.push(format!("in {}()", scope.save_fn()));
        }
        label.extend(t.scopes.iter().map(|sc| format!("enters {sc}")));
        if t.io_flusher {
            label.push("PR_SET_IO_FLUSHER".into());
        }
        label.extend(t.allocs.iter().cloned());
        let _ = writeln!(
            s,
            "  {id} [shape=ellipse, style=filled, fillcolor=\"#dde8f8\", label={}];",
            q(&label.join("\\n"))
        );
        for l in &t.locks {
            let _ = writeln!(
                s,
                "  {id} -> {} [label=\"takes\"];",
                q(&format!("lock:{}", sc.locks[*l]))
            );
        }
        for (f, what) in &t.fss {
            let _ = writeln!(
                s,
                "  {id} -> {} [label={}];",
                q(&format!("fs:{}", sc.fss[*f].name)),
                q(what)
            );
        }
        for b in &t.bufios {
            let _ = writeln!(
                s,
                "  {id} -> {} [label=\"dm_bufio_read\"];",
                q(&format!("bufio:{}", sc.bufios[*b].name))
            );
        }
    }
}

/// A wait-for cycle: tasks as ellipses, resources as boxes.
pub fn cycle_dot(sim: &Sim, cycle: &[WaitEdge]) -> String {
    let mut s = String::from("digraph waitfor {\n  node [fontname=\"monospace\"];\n");
    for e in cycle {
        let t = q(sim.task_name(e.task as usize));
        let r = q(&sim.resource_name(&e.waits_for));
        let h = q(sim.task_name(e.held_by as usize));
        let _ = writeln!(
            s,
            "  {t} [shape=ellipse];\n  {r} [shape=box];\n  {t} -> {r} [label=\"waits for\"];\n  {r} -> {h} [label=\"held / served by\"];"
        );
    }
    s.push_str("}\n");
    s
}
