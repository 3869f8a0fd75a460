//! What the tool knows, listed from the definitions the commands use:
//! `policies`, `rules`, `--help`, shell completions and man pages.

mod common;

use reclaimscope_model::Policy;
use reclaimscope_scan::Rule;

#[test]
fn policies_and_rules_one_line_each() {
    let (code, out, _) = common::run("policies", &[]);
    assert_eq!(code, 0);
    let all = Policy::all();
    assert_eq!(out.lines().count(), all.len(), "{out}");
    for p in &all {
        let name = p.to_string();
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "{name} missing:\n{out}"
        );
    }
    let (code, out, _) = common::run("rules", &[]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), Rule::ALL.len(), "{out}");
    for r in Rule::ALL {
        assert!(
            out.contains(&format!("  {} ", r.id())),
            "{}:\n{out}",
            r.id()
        );
    }
}

/// `--help` alone tells a user what `--policy` and `--rule` accept.
#[test]
fn help_lists_policies_and_rules() {
    let (code, out, _) = common::run("--help", &[]);
    assert_eq!(code, 0);
    for r in Rule::ALL {
        assert!(out.contains(r.id()), "{}", r.id());
    }
    for p in Policy::all() {
        assert!(out.contains(&format!("  {p} ")), "{p}");
    }
    for sub in ["policies", "rules", "completions", "man"] {
        assert!(out.contains(&format!("  {sub} ")), "{sub}:\n{out}");
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = common::run("completions", &[shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for sub in ["explain", "check", "compare", "scan"] {
            assert!(out.contains(sub), "{shell} lacks {sub}");
        }
    }
    assert_eq!(common::run("completions", &["tcsh"]).0, 2);
}

#[test]
fn man_pages_are_roff_one_per_command() {
    let (code, page, _) = common::run("man", &[]);
    assert_eq!(code, 0);
    assert!(page.contains(".TH reclaimscope 1"), "{page}");
    assert!(
        page.contains("scope\\-unbalanced"),
        "the rule list is in the page"
    );
    let dir = common::repo_root().join("target/man-test");
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = common::run("man", &["--dir", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for sub in [
        "", "-explain", "-check", "-compare", "-scan", "-graph", "-run",
    ] {
        let f = dir.join(format!("reclaimscope{sub}.1"));
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            text.contains(&format!(".TH reclaimscope{sub} 1")),
            "{}",
            f.display()
        );
        assert!(out.contains(f.to_str().unwrap()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
