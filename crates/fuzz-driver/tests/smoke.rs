//! Every fuzz target, briefly, on every CI run: 2,000 mutated inputs each
//! (a few seconds). `bench/fuzz` runs the same targets for millions.

use reclaimscope_fuzz_driver::{TARGETS, mutate};
use std::path::Path;

#[test]
fn each_target_survives_two_thousand_mutated_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for t in TARGETS {
        let seeds = mutate::load_seeds(&root, t);
        assert!(!seeds.is_empty(), "{}", t.name);
        let dict = mutate::dictionary(t.name);
        for i in 0..2_000 {
            let data = mutate::input(&seeds, dict, 0x5eed, i, t.max_len);
            let r = std::panic::catch_unwind(|| (t.run)(&data));
            assert!(
                r.is_ok(),
                "{} panicked on input {i}: {:?}",
                t.name,
                String::from_utf8_lossy(&data[..data.len().min(300)])
            );
        }
    }
}

#[test]
fn the_inputs_that_used_to_abort_pass_every_target() {
    let deep = format!("{}GFP_NOFS{}", "(".repeat(7_000), ")".repeat(7_000));
    let chain = vec!["__GFP_NOWARN"; 100_000].join(" | ");
    let tildes = format!("{}GFP_KERNEL", "~".repeat(21_000));
    for input in [&deep, &chain, &tildes] {
        for t in TARGETS {
            (t.run)(input.as_bytes());
        }
    }
}

/// Hostile `--kernel` arguments and patches, each through its target:
/// numbers past u16 and u64, empty parts, a hunk starting at the last
/// line number there is (its added line would be numbered past usize),
/// counts past usize, a header-only patch.
#[test]
fn hostile_kernel_versions_and_patches_pass_their_targets() {
    for k in [
        "99999999999999999999.1",
        "6.",
        "",
        "6.1.",
        "-6.1",
        "v",
        "6.1-",
        "6.1.0-",
        "\u{fffd}.1",
        "6.65536",
    ] {
        reclaimscope_fuzz_driver::kernel_version(k.as_bytes());
    }
    for p in [
        "--- a/x.c\n+++ b/x.c\n@@ -1 +18446744073709551615 @@\n+a\n",
        "--- a/x.c\n+++ b/x.c\n@@ -1,18446744073709551616 +1 @@\n+a\n",
        "--- a/x.c\n+++ b/x.c\n@@ -0,0 +1,18446744073709551615 @@\n+a\n",
        "+++ b/x.c\n",
        "@@ -1 +1 @@\n+a\n",
        "+++ b/x.c\n@@ -1 +1 @@\n",
    ] {
        reclaimscope_fuzz_driver::unified_diff(p.as_bytes());
    }
}
