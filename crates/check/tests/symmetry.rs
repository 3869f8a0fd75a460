//! The simulator's symmetry (`reclaimscope_sim::symmetry`) is what makes the
//! checker's symmetry reduction sound: renaming interchangeable tasks must
//! be an automorphism of the step function, and the canonical form must
//! commute with `step`; pruning the choices of identical idle twins loses
//! no orbit; the checker's key (the canonical fingerprint, hashed through
//! the renaming) and its queue's packed worlds agree with the worlds they
//! stand for. Checked over random reachable worlds of random
//! scenarios: the shipped ones with their user tasks duplicated (so that
//! classes exist) and the ublk scale family of `bench/check-scale`.

mod common;

use common::{shipped, ublk_family};
use proptest::prelude::*;
use reclaimscope_model::Policy;
use reclaimscope_sim::pack::Codec;
use reclaimscope_sim::program::Stmt;
use reclaimscope_sim::scenario::DevKind;
use reclaimscope_sim::symmetry::{Perm, Symmetry, permute_choice, permute_tasks};
use reclaimscope_sim::{Choice, Rng, Scenario, Sim, World};

/// Scenario number `which`: a shipped one with every user task present
/// `copies` times, or (past the shipped ones) the ublk family.
fn scenario(which: usize, copies: usize) -> Scenario {
    let files = shipped();
    if which >= files.len() {
        return ublk_family(2 + (which - files.len()) % 2);
    }
    let mut sc = Scenario::load(&files[which]).unwrap();
    let tasks = sc.tasks.clone();
    for c in 1..copies {
        for t in &tasks {
            let mut t = t.clone();
            t.name = format!("{}#{c}", t.name);
            sc.tasks.push(t);
        }
    }
    sc
}

/// A random renaming within the classes of `sym`.
fn random_perm(sym: &Symmetry, rng: &mut Rng) -> Perm {
    let mut perm: Perm = std::array::from_fn(|i| i as u8);
    for class in sym.classes() {
        let mut order = class.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for (&old, &new) in class.iter().zip(&order) {
            perm[old as usize] = new;
        }
    }
    perm
}

fn permuted(w: &World, perm: &Perm) -> World {
    let mut out = w.clone();
    permute_tasks(&mut out, perm);
    out
}

fn canon(sym: &Symmetry, w: &World) -> World {
    sym.canonical(w).unwrap_or_else(|| w.clone())
}

fn sorted(mut v: Vec<Choice>) -> Vec<Choice> {
    v.sort_by_key(|c| (c.kind as u8, c.task, c.arg));
    v
}

/// Walk `steps` random steps of `sim` from its initial world; at every
/// world, check the automorphism and commutation properties.
fn check_walk(sim: &Sim, seed: u64, steps: usize) -> Result<(), TestCaseError> {
    let sym = Symmetry::new(sim);
    let mut rng = Rng::new(seed);
    let mut w = sim.initial();
    let mut buf = Vec::new();
    let mut renamed = Vec::new();
    let codec = Codec::new(&sim.initial());
    let mut packed = Vec::new();
    for _ in 0..steps {
        sim.choices(&w, &mut buf);
        if buf.is_empty() {
            break;
        }
        // Renaming is an automorphism: the renamed world offers exactly the
        // renamed choices, and each leads to the renamed successor.
        let perm = random_perm(&sym, &mut rng);
        let pw = permuted(&w, &perm);
        sim.choices(&pw, &mut renamed);
        let expect: Vec<Choice> = buf.iter().map(|&c| permute_choice(c, &perm)).collect();
        prop_assert_eq!(sorted(renamed.clone()), sorted(expect));
        // The canonical form does not depend on the names, and is a renaming.
        let cw = canon(&sym, &w);
        prop_assert_eq!(&canon(&sym, &pw), &cw);
        let cperm = sym
            .canonical_perm(&w)
            .unwrap_or(std::array::from_fn(|i| i as u8));
        if sym.subtrees().is_trivial() {
            prop_assert_eq!(&permuted(&w, &cperm), &cw);
        }
        // The checker's key hashes through the renaming: the same as
        // building the canonical world and hashing it.
        prop_assert_eq!(sym.canonical_fingerprint(&w), cw.fingerprint());
        prop_assert_eq!(sym.canonical_fingerprint(&pw), cw.fingerprint());
        // The BFS queue's packed form gives the world back.
        packed.clear();
        codec.pack(&w, &mut packed);
        let mut back = sim.initial();
        codec.unpack(&packed, &mut back);
        prop_assert_eq!(&back, &w);
        for &c in &buf {
            let next = sim.step(&w, c);
            prop_assert_eq!(
                sim.step(&pw, permute_choice(c, &perm)),
                permuted(&next, &perm),
                "{:?}",
                c
            );
            // canon(step(w, c)) == canon(step(canon(w), c')).
            if sym.subtrees().is_trivial() {
                let c2 = permute_choice(c, &cperm);
                prop_assert_eq!(canon(&sym, &sim.step(&cw, c2)), canon(&sym, &next));
            }
            prop_assert_eq!(sim.status(&permuted(&next, &perm)), sim.status(&next));
        }
        // Pruning twins' choices loses no orbit.
        let mut kept = buf.clone();
        sym.prune(&w, &mut kept);
        let orbits: Vec<World> = kept
            .iter()
            .map(|&k| canon(&sym, &sim.step(&w, k)))
            .collect();
        for &c in &buf {
            prop_assert!(kept.contains(&c) || orbits.contains(&canon(&sym, &sim.step(&w, c))));
        }
        w = sim.step(&w, buf[rng.below(buf.len())]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn renaming_interchangeable_tasks_commutes_with_step(
        which in 0usize..16,
        copies in 1usize..4,
        policy in 0usize..64,
        seed in any::<u64>(),
    ) {
        let files = shipped().len();
        let sc = scenario(which % (files + 2), copies);
        let policies = Policy::all();
        let p = policies[policy % policies.len()];
        // Too many tasks for the world: nothing to check.
        let Ok(sim) = Sim::new(&sc, &p) else { return Ok(()) };
        check_walk(&sim, seed, 60)?;
    }
}

/// The classes are what the scenario says: identical writers form one,
/// the daemon's handler threads another; the flusher is alone.
#[test]
fn classes_group_identical_writers_and_handler_threads() {
    let sc = ublk_family(3);
    let sim = Sim::new(&sc, &Policy::BASELINE).unwrap();
    let sym = Symmetry::new(&sim);
    let names = |class: &Vec<u8>| -> Vec<String> {
        class
            .iter()
            .map(|&t| sim.task_name(t as usize).to_string())
            .collect()
    };
    let classes: Vec<Vec<String>> = sym.classes().iter().map(names).collect();
    assert_eq!(
        classes,
        vec![
            vec!["writer1", "writer2", "writer3"],
            vec!["ublk-server/0", "ublk-server/1", "ublk-server/2"],
        ]
    );
    // A writer with a different program is in no class.
    let mut sc = ublk_family(2);
    sc.tasks[1].program.pop();
    let sim = Sim::new(&sc, &Policy::BASELINE).unwrap();
    let sym = Symmetry::new(&sim);
    assert_eq!(sym.classes().len(), 1, "{:?}", sym.classes());
}

/// `bench/check-scale/gen.sh` and these tests read one template per
/// family, so the bench measures the scenarios the tests check.
#[test]
fn gen_sh_prints_the_family_the_tests_build() {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bench/check-scale/gen.sh");
    for kind in ["ublk", "loop"] {
        for n in [1, 3] {
            let out = std::process::Command::new("bash")
                .arg(&script)
                .args([kind, &n.to_string()])
                .output()
                .expect("bash runs gen.sh");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                common::family_text(kind, n),
                "{kind} {n}"
            );
            // And it parses, with n writers.
            let sc = common::family(kind, n);
            assert_eq!(sc.tasks.len(), n, "{kind} {n}");
        }
    }
}

/// The loop family of `bench/check-scale` with `n` subtrees, and (by
/// `variant`) one subtree made slightly different, which must then not be
/// merged: 1 its loop device runs with `noio` (`loop_update_dio`'s
/// `memalloc_noio_save` worker, so its pwrite allocations differ), 2 its
/// writer writes once more, 3 its XFS starts with more inodes, 4 its
/// writer writes two pages at once (same program shape, other op).
fn loop_variant(n: usize, variant: usize) -> Scenario {
    let mut sc = common::family("loop", n);
    let twin = 1; // the second subtree
    match variant {
        1 => {
            let d = sc.devices.iter().position(|d| d.name == "loop2").unwrap();
            if let DevKind::Loop { noio, .. } = &mut sc.devices[d].kind {
                *noio = true;
            }
        }
        2 => {
            let text = sc.tasks[twin].program.clone();
            sc.tasks[twin].program.insert(0, text[0].clone());
        }
        3 => {
            let f = sc.fss.iter().position(|f| f.name == "xfs2").unwrap();
            sc.fss[f].inodes += 1;
        }
        4 => {
            for stmt in &mut sc.tasks[twin].program {
                if let Stmt::Write { pages, .. } = stmt {
                    *pages = 2;
                }
            }
        }
        _ => {}
    }
    sc
}

/// Names of the tasks of each subtree of each class.
fn subtree_names(sim: &Sim, sym: &Symmetry) -> Vec<Vec<Vec<String>>> {
    sym.subtrees()
        .classes()
        .iter()
        .map(|c| {
            c.iter()
                .map(|b| {
                    b.iter()
                        .map(|&t| sim.task_name(t as usize).to_string())
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// The loop family's device subtrees (loop device, its XFS, the writer on
/// it, its worker) form one class, under every policy; a near twin (noio
/// worker, other program, other initial inodes) stays out of it.
#[test]
fn loop_subtrees_form_one_class_and_near_twins_stay_out() {
    let all = |ns: &[usize]| -> Vec<Vec<String>> {
        ns.iter()
            .map(|i| vec![format!("writer{i}"), format!("loop{i} worker")])
            .collect()
    };
    for p in Policy::all() {
        let sim = Sim::new(&loop_variant(3, 0), &p).unwrap();
        let sym = Symmetry::new(&sim);
        assert_eq!(subtree_names(&sim, &sym), vec![all(&[1, 2, 3])], "{p:?}");
        // Variant 1 differs only where the policy leaves a loop worker's
        // flags alone (io-flusher gives every worker NOIO anyway).
        let first = if p == Policy::BASELINE { 1 } else { 2 };
        for variant in first..=4 {
            let sim = Sim::new(&loop_variant(3, variant), &p).unwrap();
            let sym = Symmetry::new(&sim);
            assert_eq!(
                subtree_names(&sim, &sym),
                vec![all(&[1, 3])],
                "{p:?} variant {variant}"
            );
        }
    }
    // Two subtrees, one of them different: nothing to permute.
    let sim = Sim::new(&loop_variant(2, 2), &Policy::BASELINE).unwrap();
    assert!(Symmetry::new(&sim).is_trivial());
}

/// A random permutation of each subtree class.
fn random_subtree_perms(sym: &Symmetry, rng: &mut Rng) -> Vec<Vec<usize>> {
    sym.subtrees()
        .classes()
        .iter()
        .map(|c| {
            let mut order: Vec<usize> = (0..c.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            order
        })
        .collect()
}

/// Walk `steps` random steps; at every world check that renaming subtrees
/// is an automorphism (choices, step, status, the partial-order and
/// progress hints), that the canonical form is a renaming of the world
/// whose fingerprint is the checker's key, and that it does not depend on
/// the names when the subtrees' keys differ.
fn check_subtree_walk(sim: &Sim, seed: u64, steps: usize) -> Result<(), TestCaseError> {
    let sym = Symmetry::new(sim);
    let sub = sym.subtrees();
    let mut rng = Rng::new(seed);
    let mut w = sim.initial();
    let (mut buf, mut renamed) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        sim.choices(&w, &mut buf);
        if buf.is_empty() {
            break;
        }
        let r = sub.renaming_of(&random_subtree_perms(&sym, &mut rng));
        let pw = sub.apply(&w, &r);
        sim.choices(&pw, &mut renamed);
        let expect: Vec<Choice> = buf.iter().map(|&c| sub.apply_choice(c, &r)).collect();
        prop_assert_eq!(sorted(renamed.clone()), sorted(expect));
        let cw = canon(&sym, &w);
        prop_assert_eq!(sym.canonical_fingerprint(&w), cw.fingerprint());
        prop_assert_eq!(
            sym.canonical_fingerprint(&pw),
            canon(&sym, &pw).fingerprint()
        );
        let by_renaming = match sub.canonical_renaming(&w) {
            Some(cr) => sub.apply(&w, &cr),
            None => w.clone(),
        };
        prop_assert_eq!(sub.canonical(&w).unwrap_or_else(|| w.clone()), by_renaming);
        if sub.keys_distinct(&w) {
            prop_assert_eq!(&canon(&sym, &pw), &cw);
        }
        for &c in &buf {
            let rc = sub.apply_choice(c, &r);
            let next = sim.step(&w, c);
            prop_assert_eq!(sim.step(&pw, rc), sub.apply(&next, &r), "{:?}", c);
            prop_assert_eq!(sim.status(&sub.apply(&next, &r)), sim.status(&next));
            prop_assert_eq!(sim.is_local(&pw, rc), sim.is_local(&w, c));
            prop_assert_eq!(sim.invisible(&pw, rc), sim.invisible(&w, c));
            prop_assert_eq!(sim.is_progress(&pw, rc), sim.is_progress(&w, c));
        }
        w = sim.step(&w, buf[rng.below(buf.len())]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn renaming_subtrees_commutes_with_step(
        n in 2usize..5,
        variant in 0usize..5,
        policy in 0usize..64,
        seed in any::<u64>(),
    ) {
        let policies = Policy::all();
        let p = policies[policy % policies.len()];
        let sim = Sim::new(&loop_variant(n, variant), &p).unwrap();
        check_subtree_walk(&sim, seed, 80)?;
    }
}
