//! Random (valid) task programs on a stack with every kind of device and
//! source: loading, compiling and random walks never panic, every choice
//! changes the world, pages are conserved, and final worlds are classified.
use proptest::prelude::*;
use reclaimscope_model::Policy;
use reclaimscope_sim::{Rng, Scenario, Sim, Status};

const STACK: &str = r#"
[memory]
free = 6
min = 4
batch = 2
kswapd = KSWAPD
oom_killer = true
anon = 3
swap = "sdswap"
swap_pages = 3

[[disk]]
name = "sda"
[[disk]]
name = "sdswap"
[[loop]]
name = "loop0"
file = "a:/img"
[[dm]]
name = "dml"
target = "linear"
lower = "loop0"
[[daemon]]
name = "nbd0"
kind = "nbd"
file = "a:/nbd.img"
queue_depth = 2
threads = 2

[[fs]]
name = "a"
dev = "sda"
clean = 2
inodes = 2
dirty_inodes = 1
write_locks = ["a.journal"]
shrinker_locks = ["a.journal"]
[[fs]]
name = "b"
dev = "dml"
clean = 1
inodes = 2
dirty_inodes = 1
[[fs]]
name = "c"
dev = "nbd0"
dirty = 1
inodes = 1
dirty_inodes = 1

[[bufio]]
name = "bufio"
dev = "loop0"
gate = "GATE"
alloc = "ALLOC"
dirty = 1
clean = 1
reserved = RESERVED

[[lock]]
name = "a.journal"
[[lock]]
name = "m"
"#;

fn atom() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        prop::sample::select(vec![
            "GFP_KERNEL",
            "GFP_NOFS",
            "GFP_NOIO",
            "GFP_NOWAIT",
            "GFP_NOIO | __GFP_NORETRY",
            "GFP_KERNEL | __GFP_RETRY_MAYFAIL",
            "GFP_ATOMIC"
        ])
        .prop_flat_map(|g| (1u8..3).prop_map(move |p| vec![format!("alloc gfp={g} pages={p}")])),
        prop::sample::select(vec!["GFP_NOFS", "GFP_NOIO", "GFP_KERNEL"])
            .prop_map(|g| vec![format!("vmalloc gfp={g} pages=1")]),
        Just(vec!["free pages=1".to_string()]),
        prop::sample::select(vec!["a", "b", "c"])
            .prop_map(|f| vec![format!("write {f}:/x pages=1")]),
        prop::sample::select(vec!["a", "b", "c"])
            .prop_map(|f| vec![format!("read {f}:/x pages=1")]),
        prop::sample::select(vec!["a", "b", "c"]).prop_map(|f| vec![format!("fsync {f}")]),
        Just(vec!["read bufio blocks=1".to_string()]),
        Just(vec!["prctl io-flusher".to_string()]),
    ]
}

fn block() -> impl Strategy<Value = Vec<String>> {
    atom().prop_recursive(2, 8, 3, |inner| {
        let body = prop::collection::vec(inner, 1..3).prop_map(|v| v.concat());
        prop_oneof![
            body.clone()
                .prop_map(|b| [vec!["scope nofs".into()], b, vec!["end".into()]].concat()),
            body.clone()
                .prop_map(|b| [vec!["repeat 2 {".into()], b, vec!["}".into()]].concat()),
        ]
    })
}

/// A top-level piece: a block, or a block inside `lock m` (locks do not nest).
fn piece() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        block(),
        block().prop_map(|b| [vec!["lock m".into()], b, vec!["unlock m".into()]].concat()),
    ]
}

fn program() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(piece(), 1..4).prop_map(|v| v.concat())
}

fn toml_list(p: &[String]) -> String {
    p.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    #[test]
    fn random_programs_keep_the_contract(
        p1 in program(),
        p2 in program(),
        kswapd in any::<bool>(),
        gate in prop::sample::select(vec!["io", "fs", "trylock", "workqueue"]),
        alloc in prop::sample::select(vec!["noio-under-lock", "nowait-then-noio"]),
        reserved in 0u8..2,
        policy in prop::sample::select(Policy::all()),
        seed in any::<u64>(),
    ) {
        let src = STACK
            .replace("KSWAPD", &kswapd.to_string())
            .replace("GATE", gate)
            .replace("ALLOC", alloc)
            .replace("RESERVED", &reserved.to_string())
            + &format!("[[task]]\nname = \"t1\"\nfs = \"a\"\nprogram = [{}]\n[[task]]\nname = \"t2\"\nfs = \"b\"\nprogram = [{}]\n", toml_list(&p1), toml_list(&p2));
        let sc = Scenario::from_toml_str(&src, "gen.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{src}")))?;
        let sim = Sim::new(&sc, &policy).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut rng = Rng::new(seed);
        let mut w = sim.initial();
        let pages = w.total_pages();
        let mut buf = Vec::new();
        for _ in 0..5_000 {
            sim.choices(&w, &mut buf);
            if buf.is_empty() {
                let st = sim.status(&w);
                prop_assert_ne!(st, Status::Running);
                prop_assert_eq!(st == Status::Deadlock, sim.wait_for_cycle(&w).is_some());
                if st == Status::Stuck {
                    prop_assert!(!sim.stuck_reason(&w).is_empty());
                }
                break;
            }
            let c = buf[rng.below(buf.len())];
            prop_assert!(!sim.describe(&w, c).is_empty());
            let n = sim.step(&w, c);
            prop_assert_ne!(&n, &w, "{:?} changes nothing", c);
            prop_assert_eq!(n.total_pages(), pages);
            w = n;
        }
    }
}
