//! Graphviz DOT: the storage stack (devices, filesystems, who serves
//! whom) and a deadlock's wait-for cycle.

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
