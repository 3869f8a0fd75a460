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
