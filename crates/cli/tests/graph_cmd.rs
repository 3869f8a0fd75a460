//! `reclaimscope graph`: the stack as DOT.
use std::process::Command;

#[test]
fn s2_stack_as_dot() {
    let o = Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(["graph", "scenarios/s2-tcmu-zoned.toml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("digraph \"s2-tcmu-zoned\" {"), "{out}");
    // xfs on dmz, dmz forwards to tcmu0, tcmu-runner serves tcmu0 and writes ext4.
    assert!(out.contains("\"fs:xfs\" -> \"dev:dmz\""), "{out}");
    assert!(out.contains("\"dev:dmz\" -> \"dev:tcmu0\""), "{out}");
    assert!(
        out.contains("\"task:tcmu-runner\" -> \"dev:tcmu0\" [label=\"serves\"]"),
        "{out}"
    );
    assert!(out.contains("\"task:tcmu-runner\" -> \"fs:ext4\""), "{out}");
    assert!(out.trim_end().ends_with('}'));
    // Labels break lines with DOT's `\n`, not an escaped backslash.
    assert!(out.contains("label=\"tcmu0\\ntcmu (QD=1)\""), "{out}");
    assert!(!out.contains("\\\\n"), "{out}");
}

fn graph(path: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_reclaimscope"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args(["graph", path])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    String::from_utf8(o.stdout).unwrap()
}

/// S1's cycle has two halves: a-task holds `a.journal` (a user task and a
/// lock) and loop0's worker needs it because a write to A takes the
/// journal. The picture must show both: the user task, the locks, who
/// takes them, and dm-bufio's own lock.
#[test]
fn s1_graph_has_user_tasks_and_locks() {
    let out = graph("scenarios/s1-loop-bufio.toml");
    assert!(out.contains("\"user:a-task\" [shape=ellipse"), "{out}");
    assert!(out.contains("\"lock:a.journal\" [shape=hexagon"), "{out}");
    assert!(
        out.contains("\"user:a-task\" -> \"lock:a.journal\" [label=\"takes\"]"),
        "{out}"
    );
    assert!(out.contains("\"fs:a\" -> \"lock:a.journal\""), "{out}");
    assert!(
        out.contains("\"bufio:bufio\" -> \"lock:bufio.lock\""),
        "{out}"
    );
    assert!(out.contains("alloc GFP_NOFS"), "{out}");
}

/// Every node an edge names is declared, in every shipped scenario (a
/// misspelt id would silently draw an unlabelled node).
#[test]
fn every_edge_ends_on_a_declared_node() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let out = graph(path.to_str().unwrap());
        let declared: Vec<&str> = out
            .lines()
            .filter(|l| !l.contains(" -> ") && l.trim_start().starts_with('"'))
            .filter_map(|l| l.trim_start().split(" [").next())
            .collect();
        for l in out.lines().filter(|l| l.contains(" -> ")) {
            let l = l.trim_start();
            let (from, rest) = l.split_once(" -> ").unwrap();
            let to = rest.split(" [").next().unwrap().trim_end_matches(';');
            for id in [from, to] {
                assert!(
                    declared.contains(&id),
                    "{}: {id} not declared\n{out}",
                    path.display()
                );
            }
        }
        assert!(
            out.contains("\"user:"),
            "{}: no user task\n{out}",
            path.display()
        );
    }
}
