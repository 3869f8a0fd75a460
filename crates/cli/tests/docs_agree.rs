//! The docs say what the tool does: every option of every command is in
//! its section of docs/cli.md, README shows how to install, get
//! completions and man pages and make the report, and the `memory` keys a
//! scenario accepts are the ones docs/scenarios.md lists.

mod common;

fn read(rel: &str) -> String {
    std::fs::read_to_string(common::repo_root().join(rel)).unwrap()
}

/// Long options in `reclaimscope SUB --help`.
fn options(sub: &str) -> Vec<String> {
    let (code, out, _) = common::run(sub, &["--help"]);
    assert_eq!(code, 0);
    out.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("-o, ").unwrap_or(l);
            l.strip_prefix("--")
                .map(|o| format!("--{}", o.split([' ', '=']).next().unwrap()))
        })
        .filter(|o| o != "--help" && o != "--version")
        .collect()
}

#[test]
fn every_option_is_documented_under_its_command() {
    let doc = read("docs/cli.md");
    for sub in [
        "explain", "run", "check", "compare", "graph", "scan", "probe",
    ] {
        let start = doc
            .find(&format!("\n## {sub} "))
            .unwrap_or_else(|| panic!("docs/cli.md has no section for {sub}"));
        let rest = &doc[start + 4..];
        let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
        for o in options(sub) {
            assert!(
                section.contains(&format!("`{o}")) || section.contains(&format!(", `{o}")),
                "docs/cli.md, {sub}: {o} is not documented"
            );
        }
    }
}

#[test]
fn readme_covers_install_completions_man_and_the_report() {
    let readme = read("README.md");
    for needle in [
        "cargo install --locked --path crates/cli",
        "reclaimscope completions bash",
        "reclaimscope man --dir",
        "compare scenarios/*.toml --format html -o report.html",
        "--profile profiling",
    ] {
        assert!(readme.contains(needle), "README lacks `{needle}`");
    }
}

/// A `[memory]` key is accepted exactly when docs/scenarios.md lists it:
/// each documented key loads, and a key it does not list is rejected.
#[test]
fn memory_keys_match_the_docs() {
    let doc = read("docs/scenarios.md");
    let start = doc.find("## `[memory]`").unwrap();
    let table = &doc[start..doc[start..].find("\n\nAn allocation").unwrap() + start];
    let mut keys = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap();
        keys.extend(cell.split('`').skip(1).step_by(2).map(str::to_string));
    }
    assert!(keys.contains(&"pages".to_string()) && keys.contains(&"swap_pages".to_string()));
    let dir = common::repo_root().join("target/docs-agree");
    std::fs::create_dir_all(&dir).unwrap();
    let load = |extra: &str| {
        let p = dir.join("m.toml");
        std::fs::write(
            &p,
            format!(
                "name = \"m\"\n[memory]\nfree = 8\nmin = 4\n{extra}\n[[disk]]\nname = \"sda\"\n"
            ),
        )
        .unwrap();
        common::run("check", &[p.to_str().unwrap()])
    };
    // `free` and `min` are in every file above; each other key is added.
    for k in keys
        .iter()
        .filter(|k| !["free", "min"].contains(&k.as_str()))
    {
        let value = match k.as_str() {
            "kswapd" | "oom_killer" => "false".to_string(),
            "swap" => "\"sda\"".to_string(),
            "low" => "5".to_string(),
            "high" => "6".to_string(),
            _ => "1".to_string(),
        };
        let (code, out, err) = load(&format!("{k} = {value}"));
        assert_eq!(code, 0, "documented key `{k}` rejected: {out}{err}");
    }
    let (code, _, err) = load("pagez = 1");
    assert_eq!(code, 2, "an undocumented key must be an error");
    assert!(err.contains("pagez"), "{err}");
}
