//! Bad scenarios give an error with file, line and column, never a panic.
use reclaimscope_sim::{Scenario, ScenarioError};

const BASE: &str = r#"name = "t"
[memory]
free = 4
min = 4

[[disk]]
name = "sda"

[[fs]]
name = "a"
dev = "sda"
write_locks = ["a.journal"]

[[lock]]
name = "a.journal"
"#;

fn err(extra: &str) -> ScenarioError {
    let src = format!("{BASE}{extra}");
    Scenario::from_toml_str(&src, "t.toml").expect_err("should be rejected")
}

/// Line and column of the first occurrence of `needle` in `extra`, within BASE + extra.
fn pos(extra: &str, needle: &str) -> (usize, usize) {
    let src = format!("{BASE}{extra}");
    let off = BASE.len() + src[BASE.len()..].find(needle).unwrap();
    let line = src[..off].matches('\n').count() + 1;
    let col = off - src[..off].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

#[test]
fn unknown_device() {
    let extra = "[[fs]]\nname = \"b\"\ndev = \"sdz\"\n";
    let e = err(extra);
    assert!(e.message.contains("unknown device `sdz`"), "{e}");
    assert_eq!((e.line, e.col), pos(extra, "\"sdz\""));
    assert_eq!(e.origin, "t.toml");
}

#[test]
fn cycle_in_the_device_stack() {
    let extra =
        "[[loop]]\nname = \"loop0\"\nfile = \"b:/img\"\n[[fs]]\nname = \"b\"\ndev = \"loop0\"\n";
    let e = err(extra);
    assert!(
        e.message
            .contains("cycle in the device stack: loop0 -> loop0"),
        "{e}"
    );
    assert_eq!((e.line, e.col), pos(extra, "\"loop0\""));
}

#[test]
fn unlock_of_a_lock_not_held() {
    let extra =
        "[[task]]\nname = \"t1\"\nprogram = [\"alloc gfp=GFP_KERNEL\", \"unlock a.journal\"]\n";
    let e = err(extra);
    assert!(e.message.contains("does not hold `a.journal`"), "{e}");
    assert_eq!((e.line, e.col), pos(extra, "a.journal\"]"));
}

#[test]
fn bad_gfp_expression_points_at_the_flag() {
    let extra =
        "[[task]]\nname = \"t1\"\nprogram = [\"alloc gfp=GFP_NOFS | __GFP_NORETRI pages=1\"]\n";
    let e = err(extra);
    assert!(
        e.message.contains("__GFP_NORETRI") && e.message.contains("__GFP_NORETRY"),
        "{e}"
    );
    assert_eq!((e.line, e.col), pos(extra, "__GFP_NORETRI"));
}

#[test]
fn other_mistakes() {
    for (extra, want) in [
        (
            "[[task]]\nname = \"t1\"\nprogram = [\"lock a.journal\"]\n",
            "ends holding `a.journal`",
        ),
        (
            "[[task]]\nname = \"t1\"\nprogram = [\"frobnicate\"]\n",
            "unknown statement `frobnicate`",
        ),
        (
            "[[task]]\nname = \"t1\"\nprogram = [\"repeat 2 {\", \"alloc gfp=GFP_KERNEL\"]\n",
            "without a closing",
        ),
        (
            "[[task]]\nname = \"t1\"\nprogram = [\"end\"]\n",
            "without an open `scope`",
        ),
        (
            "[[task]]\nname = \"t1\"\nprogram = [\"alloc gfp=GFP_KERNEL pages=0\"]\n",
            "`pages` must be",
        ),
        (
            "[[task]]\nname = \"a\"\nprogram = [\"alloc gfp=GFP_KERNEL\"]\n",
            "already defined",
        ),
        (
            "[[bufio]]\nname = \"b\"\ndev = \"sda\"\ngate = \"never\"\n",
            "unknown bufio gate",
        ),
        ("bogus = 1\n", "unknown field"),
    ] {
        let e = err(extra);
        assert!(e.message.contains(want), "{extra}: {e}");
        assert!(e.line >= 1 && e.col >= 1);
    }
}

#[test]
fn set_keys_are_checked() {
    let mut sc = Scenario::from_toml_str(BASE, "t.toml").unwrap();
    let e = sc.set("bufio.colour", "red").unwrap_err();
    assert!(e.message.contains("unknown parameter"), "{e}");
    let e = sc.set("a.clean", "lots").unwrap_err();
    assert!(e.message.contains("bad value `lots`"), "{e}");
    assert_eq!(e.origin, "--set");
    assert_eq!(e.col, "a.clean=".len() + 1);
    sc.set("a.clean", "7").unwrap();
    assert_eq!(sc.fss[0].clean, 7);
    assert!(sc.apply_overrides(Some("banana"), &[]).is_err());
    assert!(sc.apply_overrides(None, &["novalue".into()]).is_err());
}

/// Arbitrary bytes never panic the loader.
#[test]
fn garbage_never_panics() {
    use proptest::prelude::*;
    proptest!(|(s in "\\PC{0,200}")| {
        let _ = Scenario::from_toml_str(&s, "x.toml");
        let _ = Scenario::from_toml_str(&format!("{BASE}{s}"), "x.toml");
    });
}

/// Counters stay bounded: the scenario's pages are capped, so no counter of
/// the world can overflow.
#[test]
fn page_total_is_bounded() {
    let mut sc = Scenario::from_toml_str(BASE, "t.toml").unwrap();
    let e = sc.set("a.clean", "65000").unwrap_err();
    assert!(e.message.contains("at most"), "{e}");
    assert_eq!(
        sc.fss[0].clean, 0,
        "a rejected --set leaves the scenario unchanged"
    );
    let big = BASE.replace("free = 4", "free = 65000");
    let src = format!("{big}[[fs]]\nname = \"b\"\ndev = \"sda\"\nclean = 60000\n");
    assert!(Scenario::from_toml_str(&src, "t.toml").is_err());
}
