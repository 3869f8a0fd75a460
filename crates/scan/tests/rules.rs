//! Fixture tests: every `expect: RULE` comment in tests/fixtures/*.c marks a
//! line where exactly that rule must fire; every other line must stay
//! silent. The expectations are reasoned from kernel semantics in the
//! fixture comments (mm/page_alloc.c: __GFP_NORETRY gives up after one
//! direct-reclaim round and means nothing without __GFP_DIRECT_RECLAIM;
//! mm/vmalloc.c before v5.17 ignores GFP_NOFS for page tables).

use reclaimscope_model::history::KernelVersion;
use reclaimscope_scan::scan::kernel_facts;
use reclaimscope_scan::{Rule, scan_source};
use std::collections::BTreeSet;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn expected(src: &str) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (i, line) in src.lines().enumerate() {
        if let Some(at) = line.find("expect:") {
            let rest = line[at + 7..].split("*/").next().unwrap_or("");
            for r in rest.split([',', ' ']).filter(|w| !w.is_empty()) {
                out.insert((i + 1, r.to_string()));
            }
        }
    }
    out
}

fn check(name: &str, rules: &[Rule], version: &str) {
    let src = fixture(name);
    let facts = kernel_facts(Some(KernelVersion::parse(version).unwrap()));
    let got: BTreeSet<(usize, String)> = scan_source(name, &src, rules, facts)
        .into_iter()
        .map(|f| (f.line, f.rule.id().to_string()))
        .collect();
    let want = expected(&src);
    assert!(!want.is_empty(), "{name} has no expectations");
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: missing {missing:?}, unexpected {extra:?}"
    );
}

#[test]
fn noretry_rules() {
    check("noretry.c", &Rule::defaults(), "6.1");
}

#[test]
fn scope_rules() {
    check("scope.c", &Rule::defaults(), "6.1");
}

#[test]
fn vmalloc_on_a_legacy_kernel() {
    check("vmalloc.c", &Rule::defaults(), "5.10");
}

#[test]
fn vmalloc_on_a_modern_kernel_is_silent() {
    // v5.17+ (451769ebb7e7): __vmalloc wraps page-table allocation in the
    // caller's scope, and kvmalloc falls back to vmalloc for any mask.
    let src = fixture("vmalloc.c");
    let facts = kernel_facts(Some(KernelVersion::parse("6.1").unwrap()));
    let got = scan_source("vmalloc.c", &src, &[Rule::VmallocNofsUnscoped], facts);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn shrinker_rule() {
    check("shrinker.c", &Rule::defaults(), "6.1");
}

#[test]
fn inventory_rule() {
    check(
        "inventory.c",
        &[Rule::NofsOutsideScope, Rule::NofsRedundantInScope],
        "6.1",
    );
}

#[test]
fn findings_carry_function_call_and_mask() {
    let src = fixture("noretry.c");
    let facts = kernel_facts(Some(KernelVersion::parse("6.1").unwrap()));
    let f = scan_source("noretry.c", &src, &[Rule::NoretryNoFallback], facts);
    let first = &f[0];
    assert_eq!(first.function, "no_fallback");
    assert_eq!(first.call, "kmalloc(n, GFP_KERNEL | __GFP_NORETRY)");
    assert_eq!(first.mask, "GFP_KERNEL | __GFP_NORETRY");
    assert_eq!(first.column, 11); // one tab + `f->buf = `
    let via_define = f
        .iter()
        .find(|x| x.function == "no_fallback_define")
        .expect("define resolved");
    assert_eq!(via_define.mask, "GFP_KERNEL | __GFP_NORETRY");
}

#[test]
fn rule_selection_limits_output() {
    let src = fixture("noretry.c");
    let facts = kernel_facts(None);
    let f = scan_source("noretry.c", &src, &[Rule::NoretryUseless], facts);
    assert!(!f.is_empty());
    assert!(f.iter().all(|x| x.rule == Rule::NoretryUseless));
}

#[test]
fn garbage_does_not_panic() {
    let facts = kernel_facts(None);
    for src in [
        "",
        "{{{{",
        "int f( { kmalloc(, GFP_KERNEL | __GFP_NORETRY",
        "#define X (GFP_KERNAL|",
        "\u{0}\u{1}",
    ] {
        let _ = scan_source("x.c", src, &Rule::ALL, facts);
    }
}

#[test]
fn mask_is_the_effective_one_inside_a_scope() {
    // mm/page_alloc.c applies current_gfp_context(): a NOIO scope clears
    // __GFP_IO and __GFP_FS from whatever the call spells.
    let src = fixture("scope.c");
    let facts = kernel_facts(Some(KernelVersion::parse("6.1").unwrap()));
    let f = scan_source("scope.c", &src, &[Rule::NoretryNoFallback], facts);
    let hit = f
        .iter()
        .find(|x| x.function == "noretry_in_scope")
        .expect("finding in scope");
    assert_eq!(hit.mask, "GFP_NOIO | __GFP_NORETRY");
}
