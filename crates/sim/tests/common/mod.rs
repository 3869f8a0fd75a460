//! A tiny exhaustive BFS over `Sim::choices`/`Sim::step`, so the sim's own
//! tests can check verdicts without the checker crate.
#![allow(dead_code)]

use reclaimscope_model::Policy;
use reclaimscope_sim::{Choice, Scenario, Sim, Status, World};
use std::collections::HashMap;
use std::path::PathBuf;

pub fn scenario(name: &str) -> Scenario {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(name);
    Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// An inline scenario that must load.
pub fn load(src: &str) -> Scenario {
    Scenario::from_toml_str(src, "inline.toml").unwrap_or_else(|e| panic!("{e}"))
}

pub fn sim(sc: &Scenario, policy: &str) -> Sim {
    Sim::new(sc, &Policy::parse(policy).unwrap()).unwrap()
}

pub enum Verdict {
    Safe {
        states: usize,
    },
    Bad {
        status: Status,
        trace: Vec<Choice>,
        world: Box<World>,
    },
}

/// Breadth-first: the first bad world found has a shortest trace.
pub fn explore(sim: &Sim, max_states: usize) -> Verdict {
    let init = sim.initial();
    let mut parent: HashMap<World, Option<(World, Choice)>> = HashMap::new();
    parent.insert(init.clone(), None);
    let mut frontier = vec![init];
    let mut buf = Vec::new();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for w in frontier {
            sim.choices(&w, &mut buf);
            if buf.is_empty() {
                let st = sim.status(&w);
                if matches!(st, Status::Deadlock | Status::Stuck) {
                    let mut trace = Vec::new();
                    let mut cur = w.clone();
                    while let Some(Some((p, c))) = parent.get(&cur) {
                        trace.push(*c);
                        cur = p.clone();
                    }
                    trace.reverse();
                    return Verdict::Bad {
                        status: st,
                        trace,
                        world: Box::new(w),
                    };
                }
                continue;
            }
            for &c in buf.clone().iter() {
                let n = sim.step(&w, c);
                assert_ne!(n, w, "choice {c:?} does not change the world");
                if !parent.contains_key(&n) {
                    parent.insert(n.clone(), Some((w.clone(), c)));
                    next.push(n);
                }
            }
            assert!(parent.len() <= max_states, "more than {max_states} states");
        }
        frontier = next;
    }
    Verdict::Safe {
        states: parent.len(),
    }
}

pub fn story(sim: &Sim, trace: &[Choice]) -> Vec<String> {
    let mut w = sim.initial();
    let mut out = Vec::new();
    for c in trace {
        out.push(sim.describe(&w, *c));
        w = sim.step(&w, *c);
    }
    out
}

pub fn verdict_name(v: &Verdict) -> String {
    match v {
        Verdict::Safe { states } => format!("safe ({states} states)"),
        Verdict::Bad { status, .. } => format!("{status:?}"),
    }
}
