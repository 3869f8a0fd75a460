//! Where the states of the check-scale ublk family come from: a census of
//! the symmetry-reduced state space by component (globals, the multiset of
//! writer states, the handler threads), for `bench/check-scale` and the
//! growth analysis in BENCHMARKS.md. Run it with
//! `cargo test -p reclaimscope-sim --release --lib census -- --ignored --nocapture`
//! (about a minute in release; a measurement, so not run in CI).
//!
//! What it asserts is the premise of the growth fit: the number of distinct
//! local states one writer takes (`k`) does not grow with N, so the writer
//! part of a canonical state is a multiset of N values out of `k` and there
//! are at most C(N+k-1, k-1) of them: polynomial in N, of degree k-1.

use std::collections::HashSet;

use reclaimscope_model::Policy;

use crate::scenario::Scenario;
use crate::sim::{Kind, Sim};
use crate::symmetry::Symmetry;
use crate::world::{Task, World};

/// `bench/check-scale/gen.sh ublk n`, from the template it reads.
fn ublk_family(n: usize) -> Scenario {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/check-scale/ublk.toml.in"
    );
    let tpl = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (head, each) = tpl
        .split_once("\n# each writer\n")
        .expect("'# each writer' line");
    let mut src = head.replace("{n}", &n.to_string());
    for i in 1..=n {
        src.push('\n');
        src.push_str(&each.replace("{i}", &i.to_string()));
    }
    Scenario::from_toml_str(&src, "ublk-family").unwrap_or_else(|e| panic!("{e}"))
}

/// Counts of distinct values of each component over the canonical states.
struct Census {
    states: usize,
    levels: usize,
    writer_locals: usize,
    writer_multisets: usize,
    writer_pcs: usize,
    servers: usize,
    globals: usize,
}

/// Breadth-first over canonical worlds (whole levels, until `limit` states).
fn census(n: usize, policy: &str, limit: usize) -> Census {
    let sim = Sim::new(&ublk_family(n), &Policy::parse(policy).unwrap()).unwrap();
    let sym = Symmetry::new(&sim);
    let canon = |w: &World| sym.canonical(w).unwrap_or_else(|| w.clone());
    let mut seen: HashSet<World> = HashSet::new();
    let mut level = vec![canon(&sim.initial())];
    seen.insert(level[0].clone());
    let mut buf = Vec::new();
    let mut levels = 0;
    while !level.is_empty() && seen.len() < limit {
        let mut next = Vec::new();
        for w in &level {
            sim.choices(w, &mut buf);
            for &c in &buf {
                let s = canon(&sim.step(w, c));
                if seen.insert(s.clone()) {
                    next.push(s);
                }
            }
        }
        level = next;
        levels += 1;
    }
    let of = |k: fn(&Kind) -> bool| -> Vec<usize> {
        (0..sim.tasks.len())
            .filter(|&t| k(&sim.tasks[t].kind))
            .collect()
    };
    let writers = of(|k| *k == Kind::User);
    let servers = of(|k| matches!(k, Kind::Server { .. }));
    let mut locals: HashSet<Task> = HashSet::new();
    let mut multisets: HashSet<Vec<Task>> = HashSet::new();
    let mut pcs: HashSet<Vec<(u16, u8)>> = HashSet::new();
    let mut server_parts: HashSet<Vec<Task>> = HashSet::new();
    let mut globals = HashSet::new();
    for w in &seen {
        let mut ws: Vec<Task> = writers.iter().map(|&t| w.tasks[t]).collect();
        ws.sort();
        locals.extend(ws.iter().copied());
        let mut p: Vec<(u16, u8)> = ws.iter().map(|t| (t.pc, t.st)).collect();
        p.sort();
        pcs.insert(p);
        multisets.insert(ws);
        server_parts.insert(servers.iter().map(|&t| w.tasks[t]).collect::<Vec<_>>());
        let fs: Vec<_> = w.fs[..w.nf as usize].to_vec();
        let locks: Vec<u8> = w.locks[..w.nl as usize].to_vec();
        globals.insert((w.free, w.anon, w.swap_free, w.kswapd_awake, fs, locks));
    }
    Census {
        states: seen.len(),
        levels,
        writer_locals: locals.len(),
        writer_multisets: multisets.len(),
        writer_pcs: pcs.len(),
        servers: server_parts.len(),
        globals: globals.len(),
    }
}

#[test]
#[ignore = "a measurement for bench/check-scale: about a minute in release"]
fn census_of_the_ublk_family() {
    eprintln!(
        "policy               N   states  levels  k  writer-multisets  (pc,st)-multisets  servers  globals"
    );
    for policy in ["baseline", "baseline+io-flusher"] {
        let mut ks = Vec::new();
        for n in 1..=4 {
            let c = census(n, policy, 1_500_000);
            eprintln!(
                "{policy:20} {n} {:8} {:7} {:2} {:17} {:18} {:8} {:8}",
                c.states,
                c.levels,
                c.writer_locals,
                c.writer_multisets,
                c.writer_pcs,
                c.servers,
                c.globals
            );
            // The multiset bound: never more writer parts than multisets of
            // n out of the k local states seen.
            let bound = (0..n).fold(1f64, |acc, i| {
                acc * (c.writer_locals + i) as f64 / (i + 1) as f64
            });
            assert!(c.writer_multisets as f64 <= bound, "{policy} N={n}");
            ks.push(c.writer_locals);
        }
        // One writer's local states do not grow with N once two writers
        // meet (N = 1 has no contention, so fewer). A level cap can only see fewer.
        assert!(ks[2..].iter().all(|&k| k <= ks[1]), "{policy}: k = {ks:?}");
    }
}
