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
