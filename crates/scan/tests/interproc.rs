//! Interprocedural fixtures: each directory under
//! tests/fixtures/interproc is a small tree scanned whole. A comment
//! `expect: RULE[:CLASS][[f>g>h]]` marks the line where exactly that rule
//! must fire; `:CLASS` is the start of the reason (`covered`, `mixed`,
//! `uncovered`, `unknown`), `[f>g>h]` the functions of the finding's
//! chain, outermost first. Every other line must stay silent. The kernel
//! reasoning for each case is in the fixture's comments (xfs_trans_alloc /
//! xfs_trans_commit, start_this_handle, smcr_new_buf_create,
//! massage_gfp_flags, bucket_table_alloc, kmem_flags_convert).

use reclaimscope_model::history::KernelVersion;
use reclaimscope_scan::{Finding, Rule, ScanOptions, scan_paths};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Expect {
    file: String,
    line: usize,
    rule: String,
    class: Option<String>,
    chain: Option<Vec<String>>,
}

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/interproc")
        .join(name)
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn expectations(root: &Path) -> Vec<Expect> {
    let mut out = Vec::new();
    for f in files(root) {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let Some(at) = line.find("expect:") else {
                continue;
            };
            let rest = line[at + 7..].split("*/").next().unwrap_or("");
            for w in rest.split_whitespace() {
                let (head, chain) = match w.split_once('[') {
                    Some((h, c)) => (
                        h,
                        Some(
                            c.trim_end_matches(']')
                                .split('>')
                                .map(String::from)
                                .collect(),
                        ),
                    ),
                    None => (w, None),
                };
                let (rule, class) = match head.split_once(':') {
                    Some((r, c)) => (r, Some(c.to_string())),
                    None => (head, None),
                };
                out.push(Expect {
                    file: rel.clone(),
                    line: i + 1,
                    rule: rule.to_string(),
                    class,
                    chain,
                });
            }
        }
    }
    out
}

fn scan(root: &Path, interprocedural: bool) -> Vec<Finding> {
    let opts = ScanOptions {
        rules: Rule::ALL.to_vec(),
        kernel_version: Some(KernelVersion::parse("6.1").unwrap()),
        interprocedural,
        ..ScanOptions::default()
    };
    scan_paths(&[root.to_path_buf()], &opts, &|_| {})
        .expect("scan runs")
        .findings
}

/// Findings of the rules the fixture is about (the inventory rule
/// nofs-outside-scope describes every NOFS site and is not checked here).
fn check(name: &str) -> Vec<Finding> {
    let root = dir(name);
    let found: Vec<Finding> = scan(&root, true)
        .into_iter()
        .filter(|f| f.rule != Rule::NofsOutsideScope)
        .collect();
    let prefix = format!("{}/", root.display());
    let rel = |f: &Finding| f.file.strip_prefix(&prefix).unwrap_or(&f.file).to_string();
    let want = expectations(&root);
    assert!(!want.is_empty(), "{name}: no expectations");
    let got: BTreeSet<(String, usize, String)> = found
        .iter()
        .map(|f| (rel(f), f.line, f.rule.id().to_string()))
        .collect();
    let wanted: BTreeSet<(String, usize, String)> = want
        .iter()
        .map(|e| (e.file.clone(), e.line, e.rule.clone()))
        .collect();
    let missing: Vec<_> = wanted.difference(&got).collect();
    let extra: Vec<_> = got.difference(&wanted).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: missing {missing:?}, unexpected {extra:?}\n{}",
        found
            .iter()
            .map(|f| f.to_text())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for e in &want {
        let f = found
            .iter()
            .find(|f| rel(f) == e.file && f.line == e.line && f.rule.id() == e.rule)
            .unwrap();
        if let Some(c) = &e.class {
            assert!(f.reason.starts_with(c.as_str()), "{name}: {}", f.to_text());
        }
        if let Some(chain) = &e.chain {
            let got: Vec<&str> = f.chain.iter().map(|s| s.function.as_str()).collect();
            assert_eq!(got, *chain, "{name}: {}", f.to_text());
        }
    }
    found
}

#[test]
fn returned_allocation_is_judged_at_the_callers() {
    let f = check("returned");
    // The chain names the allocation in the wrapper as its last step.
    let top = f.iter().find(|x| x.function == "top").unwrap();
    let last = top.chain.last().unwrap();
    assert!(
        last.file.ends_with("wrapper.c") && last.line == 7,
        "{last:?}"
    );
    assert_eq!(top.mask, "GFP_KERNEL | __GFP_NORETRY");
}

#[test]
fn smc_smaller_size_retry_keeps_the_flag() {
    check("smc");
}

#[test]
fn mask_from_a_helper_in_another_file() {
    let f = check("helper");
    assert_eq!(f[0].mask, "GFP_KERNEL | __GFP_NORETRY");
}

#[test]
fn gfp_parameter_is_the_union_of_the_callers() {
    check("param");
}

#[test]
fn flags_macro_from_another_header() {
    let f = check("macro");
    let cov = f
        .iter()
        .find(|x| x.rule == Rule::NofsScopeCoverage)
        .unwrap();
    assert_eq!(cov.mask, "GFP_NOFS | __GFP_NOWARN");
}

#[test]
fn scope_opened_by_one_function_closed_by_another() {
    let f = check("scope");
    let mixed = f.iter().find(|x| x.reason.starts_with("mixed")).unwrap();
    let names: Vec<&str> = mixed.chain.iter().map(|s| s.function.as_str()).collect();
    assert!(
        names.contains(&"do_op2") && names.contains(&"entry2"),
        "{names:?}"
    );
}

#[test]
fn shrinker_by_registration_elsewhere_or_by_signature() {
    check("shrinker");
}

#[test]
fn recursion_cycle() {
    let f = check("recursion");
    let u = f.iter().find(|x| x.function == "only_self").unwrap();
    assert!(u.reason.contains("recursive"), "{}", u.reason);
}

#[test]
fn function_pointer_gives_unknown() {
    let f = check("fnptr");
    assert!(f[0].reason.contains("function pointer"), "{}", f[0].reason);
    assert!(f[0].reason.contains("ops.c:10"), "{}", f[0].reason);
}

#[test]
fn without_the_index_nothing_crosses_a_function() {
    // The same trees judged one function at a time: no chains at all, and
    // nothing found in the files that only call (user.c, reg.c).
    for name in ["returned", "smc", "scope", "shrinker"] {
        let f = scan(&dir(name), false);
        assert!(f.iter().all(|x| x.chain.is_empty()), "{name}");
        assert!(
            f.iter()
                .all(|x| !x.file.ends_with("user.c") && x.rule != Rule::NofsScopeCoverage),
            "{name}"
        );
    }
}

#[test]
fn chain_in_sarif_and_json() {
    let f = check("returned");
    let sarif = reclaimscope_scan::output::sarif(&f, "test");
    let v: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = v["runs"][0]["results"].as_array().unwrap();
    let flows: Vec<&serde_json::Value> = results
        .iter()
        .filter_map(|r| r["codeFlows"][0]["threadFlows"][0]["locations"].as_array())
        .flatten()
        .collect();
    assert!(
        flows.iter().any(
            |l| l["location"]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("wrapper.c")
        ),
        "{sarif}"
    );
    let js = serde_json::to_value(&f[0]).unwrap();
    assert!(js["chain"].as_array().is_some_and(|c| c.len() >= 2), "{js}");
}

#[test]
fn jbd2_handle_is_a_scope() {
    let f = check("jbd2");
    let r = f
        .iter()
        .find(|x| x.rule == Rule::NofsRedundantInScope)
        .unwrap();
    assert!(r.reason.contains("journal_start() opens"), "{}", r.reason);
}

#[test]
fn macro_over_a_handle_opener_is_a_scope() {
    // ext4_journal_start() -> __ext4_journal_start() ->
    // __ext4_journal_start_sb() -> jbd2__journal_start() ->
    // start_this_handle(): the macro's call opens the handle's scope.
    let f = check("macrohandle");
    let c = f
        .iter()
        .find(|x| x.rule == Rule::NofsScopeCoverage && x.reason.starts_with("covered"))
        .unwrap();
    assert!(
        c.chain[0]
            .note
            .contains("ext4_journal_start() opens a nofs scope"),
        "{:?}",
        c.chain[0]
    );
}

#[test]
fn call_through_an_internal_ops_field_is_followed() {
    let f = check("opsfield");
    let c = f.iter().find(|x| x.reason.starts_with("covered")).unwrap();
    assert!(
        c.chain.iter().any(|s| s
            .note
            .contains("calls ->finish_item() of struct defer_op_type")),
        "{:?}",
        c.chain
    );
    // `o` is a `struct other_ops *`: its ->finish_item() call is not a
    // caller of the defer_op_type registration, only of other_ops's.
    let other = f
        .iter()
        .find(|x| x.function == "other_finish_item")
        .unwrap();
    assert!(
        other.chain.iter().all(|s| s.function != "defer_finish_one"),
        "{:?}",
        other.chain
    );
    let u = f.iter().find(|x| x.reason.starts_with("unknown")).unwrap();
    assert!(
        u.reason.contains("registered as .cancel_item at")
            && u.reason
                .contains("no call through ->cancel_item() was found"),
        "{}",
        u.reason
    );
}

#[test]
fn kernel_entry_points_end_the_chain() {
    let f = check("entry");
    let mixed = f.iter().find(|x| x.reason.starts_with("mixed")).unwrap();
    // The covered chain is the loop worker's NOIO scope, the uncovered one
    // the syscall.
    assert!(
        mixed.chain[0].note.contains("PF_MEMALLOC_NOIO"),
        "{:?}",
        mixed.chain
    );
    let scan = f.iter().find(|x| x.function == "foo_scan").unwrap();
    assert!(
        scan.chain[1]
            .note
            .contains(".scan_objects of struct shrinker"),
        "{:?}",
        scan.chain
    );
}

#[test]
fn returned_allocation_through_a_macro_and_an_ops_field() {
    let f = check("floppy");
    let n = &f[0];
    assert!(
        n.chain[1].note.contains("calls ->_dma_mem_alloc()"),
        "{:?}",
        n.chain
    );
}
