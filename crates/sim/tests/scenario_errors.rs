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

/// A keyword value the loader does not know points at the value and lists
/// the known ones.
#[test]
fn unknown_keywords_point_at_the_value() {
    for (extra, want) in [
        (
            "[[bufio]]\nname = \"b\"\ndev = \"sda\"\nalloc = \"zz\"\n",
            "unknown bufio alloc `zz`; known: noio-under-lock, nowait-then-noio",
        ),
        (
            "[[lock]]\nname = \"l\"\nkind = \"zz\"\n",
            "unknown lock kind `zz`; known: mutex, jbd2-handle, xfs-transaction, btrfs-transaction",
        ),
        (
            "[[fs]]\nname = \"b\"\ndev = \"sda\"\ninode_reclaim = \"zz\"\n",
            "unknown inode_reclaim `zz`; known: write-and-wait, skip-dirty",
        ),
    ] {
        let e = err(extra);
        assert_eq!(e.message, want, "{extra}");
        assert_eq!((e.line, e.col), pos(extra, "\"zz\""), "{extra}");
    }
    let src = BASE.replace("[memory]", "vmalloc = \"zz\"\n[memory]");
    let e = Scenario::from_toml_str(&src, "t.toml").unwrap_err();
    assert_eq!(
        e.message,
        "unknown vmalloc mode `zz`; known: legacy, modern"
    );
    assert_eq!((e.line, e.col), (2, 11));
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

/// The world keeps three `repeat` counters per task (`REP_SLOTS`): a fourth
/// nested `repeat` is refused at the statement, not at 1:1.
#[test]
fn repeat_nesting_points_at_the_statement() {
    let extra = "[[task]]\nname = \"t1\"\nprogram = [\"repeat 2 {\", \"repeat 2 {\", \"repeat 2 {\", \"repeat 2 {\", \"alloc gfp=GFP_KERNEL\", \"}\", \"}\", \"}\", \"}\"]\n";
    let e = err(extra);
    assert!(e.message.contains("nests at most 3 deep"), "{e}");
    let src = format!("{BASE}{extra}");
    // The fourth `repeat`.
    let off = BASE.len()
        + src[BASE.len()..]
            .match_indices("repeat 2 {")
            .nth(3)
            .unwrap()
            .0;
    let col = off - src[..off].rfind('\n').unwrap() - 1 + 1;
    assert_eq!((e.line, e.col), (src[..off].matches('\n').count() + 1, col));
    // Three deep is fine; `--set t1.repeat=2` would make it four.
    let ok = "[[task]]\nname = \"t1\"\nprogram = [\"repeat 2 {\", \"repeat 2 {\", \"repeat 2 {\", \"alloc gfp=GFP_KERNEL\", \"}\", \"}\", \"}\"]\n";
    let mut sc = Scenario::from_toml_str(&format!("{BASE}{ok}"), "t.toml").unwrap();
    let e = sc.set("t1.repeat", "2").unwrap_err();
    assert!(e.message.contains("nest `repeat` 4 deep"), "{e}");
    assert_eq!(sc.tasks[0].repeat, 1);
}

/// Watermarks out of order name the key that breaks the order.
#[test]
fn watermark_order_points_at_the_key() {
    let src = BASE.replace("min = 4\n", "min = 4\nlow = 3\n");
    let e = Scenario::from_toml_str(&src, "t.toml").unwrap_err();
    assert!(e.message.contains("min <= low <= high"), "{e}");
    assert_eq!((e.line, e.col), (5, 7), "{e}");
    let src = BASE.replace("min = 4\n", "min = 4\nhigh = 2\n");
    let e = Scenario::from_toml_str(&src, "t.toml").unwrap_err();
    assert_eq!((e.line, e.col), (5, 8), "{e}");
}

/// A control byte (here ESC) anywhere, even in a comment, is refused with
/// a message that says so, at its own position.
#[test]
fn control_byte_in_a_comment() {
    let src = BASE.replace("name = \"t\"\n", "name = \"t\" # \u{1b}[31m red\n");
    let e = Scenario::from_toml_str(&src, "t.toml").unwrap_err();
    assert!(e.message.contains("control character U+001B"), "{e}");
    assert_eq!((e.line, e.col), (1, 14));
    assert!(!e.message.contains('\u{1b}'));
}

/// A file cut off after `key = ` (the toml crate's error has no message
/// there) is an error at the end that says so.
#[test]
fn file_ending_after_a_key() {
    let src = format!("{BASE}[[lock]]\nname = ");
    let e = Scenario::from_toml_str(&src, "t.toml").unwrap_err();
    assert_eq!(e.message, "unexpected end of file");
    assert_eq!(e.line, src.lines().count());
    assert_eq!(e.col, "name = ".len() + 1);
}

/// TOML takes a carriage return only in a CRLF line end: a bare one (an
/// old Mac line end, or a mangled paste) is an error at the character,
/// with a message (the toml crate's own error for it has none); a file
/// written with CRLF line ends loads.
#[test]
fn bare_carriage_return() {
    let src = BASE.replace("name = \"t\"\n", "name = \"t\" # a\rb\n");
    let e = Scenario::from_toml_str(&src, "t.toml").unwrap_err();
    assert!(e.message.contains("control character U+000D"), "{e}");
    assert_eq!((e.line, e.col), (1, 15));
    let crlf = BASE.replace('\n', "\r\n");
    assert!(Scenario::from_toml_str(&crlf, "t.toml").is_ok());
}

/// `--set` goes through the file's checks: threads 1..=8, queue_depth >= 1, watermark
/// order, dirty_inodes <= inodes; a refused value leaves the scenario as it was.
#[test]
fn set_values_are_validated_like_the_file() {
    let daemon = "[[disk]]\nname = \"sdb\"\n[[fs]]\nname = \"b\"\ndev = \"sdb\"\n[[daemon]]\nname = \"tcmu0\"\nkind = \"tcmu\"\nfile = \"b:/img\"\n";
    let src = format!("{BASE}{daemon}");
    let mut sc = Scenario::from_toml_str(&src, "t.toml").unwrap();
    let file_err =
        Scenario::from_toml_str(&format!("{src}queue_depth = 0\n"), "t.toml").unwrap_err();
    let e = sc.set("tcmu0.queue_depth", "0").unwrap_err();
    assert!(
        e.message
            .contains("queue_depth of `tcmu0` must be 1..=255, not 0"),
        "{e}"
    );
    assert!(
        file_err
            .message
            .contains("queue_depth of `tcmu0` must be 1..=255, not 0")
    );
    assert_eq!(e.col, "tcmu0.queue_depth=".len() + 1);
    let e = sc.set("tcmu0.threads", "9").unwrap_err();
    assert!(
        e.message.contains("threads of `tcmu0` must be 1..=8"),
        "{e}"
    );
    assert!(sc.set("tcmu0.threads", "0").is_err());
    let file_err = Scenario::from_toml_str(&format!("{src}threads = 9\n"), "t.toml").unwrap_err();
    assert!(
        file_err
            .message
            .contains("threads of `tcmu0` must be 1..=8")
    );
    let e = sc.set("memory.min", "65535").unwrap_err();
    assert!(e.message.contains("min <= low <= high"), "{e}");
    assert_eq!(sc.memory.min, 4);
    sc.set("a.inodes", "2").unwrap();
    let e = sc.set("a.dirty_inodes", "3").unwrap_err();
    assert!(e.message.contains("cannot exceed inodes"), "{e}");
    sc.set("tcmu0.queue_depth", "8").unwrap();
}

/// A long `gfp=` expression is read in one pass (it was copied again for
/// every token: 19 s for 100,000 terms).
#[test]
fn long_gfp_statement_parses() {
    let terms = vec!["__GFP_FS"; 200].join(" | ");
    let extra =
        format!("[[task]]\nname = \"t1\"\nprogram = [\"alloc gfp=GFP_NOFS | {terms} pages=2\"]\n");
    let sc = Scenario::from_toml_str(&format!("{BASE}{extra}"), "t.toml").unwrap();
    assert_eq!(
        format!("{:?}", sc.tasks[0].program[0]),
        format!(
            "{:?}",
            reclaimscope_sim::program::Stmt::Alloc {
                gfp: reclaimscope_model::Gfp::KERNEL,
                pages: 2,
                order: 0
            }
        )
    );
}
