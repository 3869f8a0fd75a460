//! State counts for the checker's budget (printed, asserted loosely).
mod common;
use common::*;

#[test]
#[ignore]
fn print_state_counts() {
    for name in [
        "s1-loop-bufio.toml",
        "s2-tcmu-zoned.toml",
        "s3-loop-xfs-on-ext4.toml",
        "s4-vmalloc-nofs.toml",
        "s5-bufio-lock.toml",
        "s6-many-filesystems.toml",
    ] {
        let sc = scenario(name);
        for p in reclaimscope_model::Policy::all() {
            let s = reclaimscope_sim::Sim::new(&sc, &p).unwrap();
            println!("{name} {p}: {}", verdict_name(&explore(&s, 3_000_000)));
        }
    }
}
