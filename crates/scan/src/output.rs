//! Renderings of a scan: gcc-style text, JSON, SARIF 2.1.0, and a summary
//! of counts per rule and per top-level directory.

use crate::finding::Finding;
use crate::rule::Rule;
use crate::scan::ScanReport;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn text(findings: &[Finding]) -> String {
    let mut s = String::new();
    for f in findings {
        s.push_str(&f.to_text());
        s.push('\n');
    }
    s
}

/// Stable JSON: `{ "kernel_version", "findings": [...], "stats": {...} }`.
pub fn json(report: &ScanReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// SARIF 2.1.0 as GitHub code scanning reads it: repo-relative URIs,
/// stable rule ids, and a partial fingerprint that survives line shifts.
pub fn sarif(findings: &[Finding], tool_version: &str) -> String {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "name": r.id(),
                "shortDescription": { "text": r.summary() },
                "fullDescription": { "text": r.summary() },
                "helpUri": format!("https://example.invalid/reclaimscope/{}", r.doc_anchor()),
                "help": { "text": format!("See {}", r.doc_anchor()) },
                "defaultConfiguration": { "level": if r.is_inventory() { "note" } else { "warning" } },
                "properties": { "tags": ["reclaim", "gfp"] }
            })
        })
        .collect();
    let mut occurrences: BTreeMap<u64, usize> = BTreeMap::new();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let idx = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
            let h = fingerprint(f);
            let n = occurrences.entry(h).or_insert(0);
            *n += 1;
            let mut result = json!({
                "ruleId": f.rule.id(),
                "ruleIndex": idx,
                "level": if f.rule.is_inventory() { "note" } else { "warning" },
                "message": { "text": format!("{}(): `{}`{}: {}", f.function, f.call,
                    if f.mask.is_empty() { String::new() } else { format!(" (mask {})", f.mask) }, f.reason) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.file.replace('\\', "/"), "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": f.line, "startColumn": f.column }
                    },
                    "logicalLocations": [{ "name": f.function, "kind": "function" }]
                }],
                "relatedLocations": f.evidence.iter().enumerate().map(|(i, e)| json!({
                    "id": i,
                    "physicalLocation": {
                        "artifactLocation": { "uri": f.file.replace('\\', "/"), "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": e.line }
                    },
                    "message": { "text": e.role }
                })).collect::<Vec<_>>(),
                "partialFingerprints": { "reclaimscopeHash/v1": format!("{h:016x}:{n}") }
            });
            if !f.chain.is_empty() {
                result["codeFlows"] = code_flow(f);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "reclaimscope",
                "version": tool_version,
                "informationUri": "https://example.invalid/reclaimscope",
                "rules": rules
            }},
            "columnKind": "unicodeCodePoints",
            "results": results
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The finding's call chain as one SARIF thread flow, outermost call first.
fn code_flow(f: &Finding) -> Value {
    let locations: Vec<Value> = f
        .chain
        .iter()
        .map(|step| {
            json!({
                "location": {
                    "physicalLocation": {
                        "artifactLocation": { "uri": step.file.replace('\\', "/"), "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": step.line }
                    },
                    "message": { "text": format!("{}(): {}", step.function, step.note) }
                }
            })
        })
        .collect();
    json!([{ "threadFlows": [{ "locations": locations }] }])
}

/// FNV-1a over what identifies a finding independent of its line number.
fn fingerprint(f: &Finding) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for part in [f.rule.id(), &f.file, &f.function, &f.call] {
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Counts per rule (rules that did not run say so: a 0 would claim the
/// tree is clean) and per top-level directory, plus what was skipped.
pub fn summary(report: &ScanReport, roots: &[std::path::PathBuf]) -> String {
    let mut per_rule: BTreeMap<&str, usize> = Rule::ALL.iter().map(|r| (r.id(), 0)).collect();
    let mut per_dir: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
    for f in &report.findings {
        *per_rule.entry(f.rule.id()).or_default() += 1;
        let dir = top_level_dir(&f.file, roots);
        *per_dir
            .entry(dir)
            .or_default()
            .entry(f.rule.id())
            .or_default() += 1;
    }
    let mut s = String::from("findings per rule:\n");
    for (r, n) in &per_rule {
        if report.rules.iter().any(|x| x.id() == *r) {
            s.push_str(&format!("  {n:>6}  {r}\n"));
        } else {
            s.push_str(&format!("  {:>6}  {r} (not run)\n", "-"));
        }
    }
    s.push_str("findings per top-level directory:\n");
    for (d, rules) in &per_dir {
        let total: usize = rules.values().sum();
        let detail: Vec<String> = rules.iter().map(|(r, n)| format!("{r} {n}")).collect();
        s.push_str(&format!("  {total:>6}  {d}  ({})\n", detail.join(", ")));
    }
    s.push_str(&coverage_summary(&report.findings));
    let st = &report.stats;
    s.push_str(&format!(
        "files: {} C files read ({} MB), {} parsed; skipped {} binary, {} non-UTF-8, {} huge, {} unreadable, {} empty, {} unparsable, {} not C, {} special, {} failed; {} functions nested too deep, {} regions too costly to parse; {} findings suppressed in source\n",
        st.files_seen,
        st.bytes_read / 1_000_000,
        st.files_parsed,
        st.skipped_binary,
        st.skipped_non_utf8,
        st.skipped_huge,
        st.skipped_unreadable,
        st.skipped_empty,
        st.skipped_unparsable,
        st.skipped_not_c,
        st.skipped_special,
        st.skipped_failed,
        st.skipped_deep_functions,
        st.skipped_costly_regions,
        st.suppressed
    ));
    s.push_str(&format!(
        "kernel version assumed: {}\n",
        report
            .kernel_version
            .as_deref()
            .unwrap_or("unknown (treated as older than 5.17)")
    ));
    s
}

/// `nofs-scope-coverage` classes per directory (the file's own directory,
/// `fs/xfs`, `fs/xfs/libxfs`): how much of it can say GFP_KERNEL today.
fn coverage_summary(findings: &[Finding]) -> String {
    const CLASSES: [&str; 4] = ["covered", "mixed", "uncovered", "unknown"];
    let mut per_dir: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for f in findings
        .iter()
        .filter(|f| f.rule == Rule::NofsScopeCoverage)
    {
        let dir = f.file.rsplit_once('/').map_or(".", |(d, _)| d);
        let dir = dir.strip_prefix("./").unwrap_or(dir);
        if let Some(i) = CLASSES.iter().position(|c| f.reason.starts_with(c)) {
            per_dir.entry(dir).or_default()[i] += 1;
        }
    }
    if per_dir.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "nofs-scope-coverage per directory (covered / mixed / uncovered / unknown):\n",
    );
    for (d, n) in &per_dir {
        s.push_str(&format!(
            "  {:>5} {:>5} {:>5} {:>5}  {d}\n",
            n[0], n[1], n[2], n[3]
        ));
    }
    s
}

/// The first directory of `file` below the scanned root it lies in (`fs`
/// for `linux/fs/xfs/xfs_buf.c` scanned as `linux`), or `.` for a file
/// directly in a root.
fn top_level_dir(file: &str, roots: &[std::path::PathBuf]) -> String {
    let rel = roots
        .iter()
        .filter_map(|r| {
            let r = r.to_string_lossy();
            let r = r.trim_end_matches('/');
            file.strip_prefix(r)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|_| !r.is_empty() && r != ".")
        })
        .max_by_key(|rest| std::cmp::Reverse(rest.len()))
        .unwrap_or(file);
    let rel = rel.trim_start_matches("./");
    match rel.split_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => ".".into(),
    }
}

#[cfg(test)]
mod top_level_tests {
    use super::top_level_dir;
    use std::path::PathBuf;

    #[test]
    fn relative_to_the_scanned_root() {
        let roots = [PathBuf::from("/src/linux/")];
        assert_eq!(top_level_dir("/src/linux/fs/xfs/a.c", &roots), "fs");
        assert_eq!(top_level_dir("/src/linux/a.c", &roots), ".");
        assert_eq!(top_level_dir("./mm/a.c", &[PathBuf::from(".")]), "mm");
        assert_eq!(top_level_dir("mm/a.c", &[PathBuf::from(".")]), "mm");
    }
}
