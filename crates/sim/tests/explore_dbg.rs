mod common;
use common::*;

#[test]
#[ignore]
fn dbg() {
    let name = std::env::var("SC").unwrap();
    let sc = scenario(&name);
    let mut sc = sc;
    if let Ok(sets) = std::env::var("SETS") {
        for kv in sets.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            sc.set(k, v).unwrap();
        }
    }
    for p in std::env::var("POL").unwrap_or("baseline".into()).split(',') {
        let s = sim(&sc, p);
        let v = explore(&s, 2_000_000);
        println!("== {p}: {}", verdict_name(&v));
        if let Verdict::Bad { trace, world, .. } = &v {
            for (i, l) in story(&s, trace).iter().enumerate() {
                println!("  {}. {l}", i + 1);
            }
            for l in s.blocked_lines(world) {
                println!("  => {l}");
            }
            if let Some(c) = s.wait_for_cycle(world) {
                println!("  cycle: {}", s.cycle_text(&c));
            }
        }
    }
}
