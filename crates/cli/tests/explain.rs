//! `reclaimscope explain` end to end: snapshots of the table and the JSON,
//! and the error contract for bad expressions.

mod common;

fn explain(args: &[&str]) -> (i32, String, String) {
    common::run("explain", args)
}

/// GFP_KERNEL inside memalloc_nofs_save(): current_gfp_context() clears
/// __GFP_FS, so it must say it behaves as GFP_NOFS and why.
#[test]
fn kernel_under_nofs_scope() {
    let (code, out, _) = explain(&["GFP_KERNEL", "--scope", "nofs"]);
    assert_eq!(code, 0);
    assert!(out.contains("behaves as GFP_NOFS"));
    assert!(out.contains("PF_MEMALLOC_NOFS clears __GFP_FS"));
    insta::assert_snapshot!(out);
}

/// dm-bufio's second attempt ("Re: dm bufio: Reduce dm_bufio_lock
/// contention", 2018-06-18): one round, no OOM, may fail.
#[test]
fn bufio_noio_noretry() {
    let (code, out, _) = explain(&["GFP_NOIO | __GFP_NORETRY | __GFP_NOMEMALLOC | __GFP_NOWARN"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(out);
}

/// A NOIO scope inside a NOFS scope gives NOIO (NOIO wins).
#[test]
fn nested_scopes_and_io_flusher() {
    let (_, nested, _) = explain(&["GFP_KERNEL", "--scope", "nofs", "--scope", "noio"]);
    assert!(nested.contains("behaves as GFP_NOIO"));
    let (_, flusher, _) = explain(&["GFP_KERNEL", "--io-flusher"]);
    assert!(flusher.contains("PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE"));
    assert!(flusher.contains("behaves as GFP_NOIO"));
}

#[test]
fn json_is_stable() {
    let (code, out, _) = explain(&["gfp & ~__GFP_FS", "--scope", "noio", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["unknown"][0], "gfp");
    assert_eq!(v["task_flags"][0], "PF_MEMALLOC_NOIO");
    insta::assert_snapshot!(out);
}

/// Bad tokens: exit 2, file:line:col, a caret under the token, a hint.
#[test]
fn typo_exits_2_with_caret() {
    let (code, out, err) = explain(&["GFP_KERNAL"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.starts_with("<command line>:1:1: error: unknown gfp flag `GFP_KERNAL`"));
    assert!(err.contains("did you mean `GFP_KERNEL`?"));
    assert!(err.trim_end().ends_with("| ^^^^^^^^^^"), "{err}");
    let (code, _, err) = explain(&["GFP_NOFS |"]);
    assert_eq!(code, 2);
    assert!(err.contains(":1:11: error:"), "{err}");
}

#[test]
fn bad_options_exit_2() {
    assert_eq!(explain(&["GFP_KERNEL", "--scope", "nofx"]).0, 2);
    assert_eq!(explain(&["GFP_KERNEL", "--policy", "magic"]).0, 2);
    assert_eq!(explain(&[]).0, 2);
}

/// `--kernel` reads names as that release had them. 6.1's gfp_types.h:
/// `GFP_ATOMIC (__GFP_HIGH|__GFP_ATOMIC|__GFP_KSWAPD_RECLAIM)` = 0xa20;
/// 6.12's: `(__GFP_HIGH|__GFP_KSWAPD_RECLAIM)` = 0x820, and `__GFP_ATOMIC`
/// is gone ("mm: discard __GFP_ATOMIC", v6.3): naming it is an error at
/// its column, exit 2.
#[test]
fn kernel_release_changes_names_and_values() {
    let (code, old, _) = explain(&["GFP_ATOMIC", "--kernel", "6.1"]);
    assert_eq!(code, 0);
    assert!(old.contains("mask        GFP_ATOMIC  (0xa20)"), "{old}");
    assert!(
        old.contains("__GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM"),
        "{old}"
    );
    let (code, new, _) = explain(&["GFP_ATOMIC", "--kernel", "6.12"]);
    assert_eq!(code, 0);
    assert!(new.contains("mask        GFP_ATOMIC  (0x820)"), "{new}");
    let (code, _, err) = explain(&["GFP_NOIO | __GFP_ATOMIC", "--kernel", "6.3"]);
    assert_eq!(code, 2);
    assert!(err.contains("<command line>:1:12:"), "{err}");
    assert!(err.contains("does not exist in 6.3"), "{err}");
    // Releases before the v4.4 reclaim-bit split are refused, not guessed.
    let (code, _, err) = explain(&["GFP_KERNEL", "--kernel", "4.3"]);
    assert_eq!(code, 2);
    assert!(err.contains("__GFP_WAIT"), "{err}");
    // JSON says which release it read.
    let (_, json, _) = explain(&["GFP_NOWAIT", "--kernel", "6.1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kernel"], "6.1");
    assert_eq!(v["mask"]["hex"], "0x800");
}
