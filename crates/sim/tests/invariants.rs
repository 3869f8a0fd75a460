//! Invariants of the step function over random walks of every shipped
//! scenario under every policy: each listed choice changes the world, has
//! a story line, and the world's pages are conserved.
mod common;
use common::*;
use reclaimscope_model::Policy;
use reclaimscope_sim::{Rng, Sim, Status};

const SCENARIOS: &[&str] = &[
    "s1-loop-bufio.toml",
    "s2-tcmu-zoned.toml",
    "s3-loop-xfs-on-ext4.toml",
    "s4-vmalloc-nofs.toml",
    "s5-bufio-lock.toml",
    "s6-many-filesystems.toml",
    "ublk-qd2.toml",
];

#[test]
fn random_walks_keep_the_contract() {
    for name in SCENARIOS {
        let sc = scenario(name);
        for p in Policy::all() {
            let s = Sim::new(&sc, &p).unwrap();
            for seed in 0..20 {
                let mut rng = Rng::new(seed);
                let mut w = s.initial();
                let mut buf = Vec::new();
                let pages = w.total_pages();
                for _ in 0..10_000 {
                    assert_eq!(w.total_pages(), pages, "{name} {p}: pages not conserved");
                    s.choices(&w, &mut buf);
                    if buf.is_empty() {
                        assert_ne!(s.status(&w), Status::Running);
                        if s.status(&w) == Status::Deadlock {
                            assert!(s.wait_for_cycle(&w).is_some());
                        }
                        break;
                    }
                    assert_eq!(s.status(&w), Status::Running);
                    let c = buf[rng.below(buf.len())];
                    let line = s.describe(&w, c);
                    assert!(
                        !line.is_empty() && !line.contains("{"),
                        "{name} {p}: {c:?} -> `{line}`"
                    );
                    let n = s.step(&w, c);
                    assert_ne!(n, w, "{name} {p}: {c:?} changes nothing");
                    if s.is_local(&w, c) {
                        // A local step leaves every other task and all shared state alone.
                        let others: Vec<_> = buf.iter().filter(|o| o.task != c.task).collect();
                        for o in others {
                            assert_eq!(
                                s.step(&s.step(&w, c), *o),
                                s.step(&s.step(&w, *o), c),
                                "{name} {p}: {c:?} vs {o:?}"
                            );
                        }
                    }
                    w = n;
                }
            }
        }
    }
}

/// What the livelock search's partial-order reduction relies on, in worlds
/// reached without a local step `c` (here: the world itself and each world
/// one step of another choice away): `c` is still enabled and every other
/// choice keeps its progress (`Sim::independent`); and when `c` is also
/// `Sim::invisible` and that world is spinning (it moves, nothing is
/// progress) and offers something besides `c`, the world after `c` is
/// spinning too.
#[test]
fn local_steps_keep_progress_and_invisible_ones_keep_spinning_worlds_spinning() {
    let spinning = |s: &Sim, w: &reclaimscope_sim::World, buf: &mut Vec<_>| {
        s.choices(w, buf);
        !buf.is_empty() && buf.iter().all(|&o| !s.is_progress(w, o))
    };
    let (mut local, mut invisible) = (0, 0);
    for name in SCENARIOS {
        let sc = scenario(name);
        for p in Policy::all() {
            let s = Sim::new(&sc, &p).unwrap();
            for seed in 0..16 {
                let mut rng = Rng::new(seed);
                let mut w = s.initial();
                let mut buf = Vec::new();
                let mut other = Vec::new();
                for _ in 0..2_000 {
                    s.choices(&w, &mut buf);
                    if buf.is_empty() {
                        break;
                    }
                    for &c in &buf {
                        if !s.is_local(&w, c) {
                            continue;
                        }
                        local += 1;
                        let quiet = s.invisible(&w, c);
                        invisible += usize::from(quiet);
                        let mut worlds = vec![w.clone()];
                        worlds.extend(buf.iter().filter(|&&o| o != c).map(|&o| s.step(&w, o)));
                        for x in &worlds {
                            s.choices(x, &mut other);
                            assert!(other.contains(&c), "{name} {p}: {c:?} disabled");
                            let after = s.step(x, c);
                            for &o in other.iter().filter(|&&o| o != c) {
                                assert_eq!(
                                    s.is_progress(x, o),
                                    s.is_progress(&after, o),
                                    "{name} {p}: {c:?} changes the progress of {o:?}"
                                );
                            }
                            if quiet && other.len() > 1 && spinning(&s, x, &mut other) {
                                assert!(
                                    spinning(&s, &after, &mut other),
                                    "{name} {p}: {c:?} ends a spinning world"
                                );
                            }
                        }
                    }
                    w = s.step(&w, buf[rng.below(buf.len())]);
                }
            }
        }
    }
    assert!(
        invisible > 4000 && local > invisible,
        "only {invisible} invisible of {local} local steps met"
    );
}
