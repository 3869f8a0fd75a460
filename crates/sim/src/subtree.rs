//! Symmetry of device subtrees: N loop devices, each with its own
//! filesystem, writer and worker, are interchangeable as wholes even though
//! no two of their tasks are (writer i's program names `xfs{i}`).
//!
//! A *block* is what hangs off one served device `d` (one that resolves
//! to itself): the devices that resolve to `d` (dm targets forward), the
//! filesystems on them, their reclaim sources (clean page cache and
//! superblock shrinker), the server threads of those devices, the user
//! tasks whose program touches only this block's devices and filesystems,
//! the locks referenced by this block alone, and the program segments
//! (each user task's program up to its `Exit`, each server's write and read
//! programs up to their `Complete`). Everything else is global and fixed.
//! Blocks with the same shape are paired positionally (k-th task with k-th
//! task, ...), which is only a *guess*.
//!
//! Each guess is verified exactly on the compiled [`Sim`] before use
//! ([`Subtrees::new`]): for the transposition of the two blocks, the
//! renaming of tasks, devices, filesystems, locks, sources, program
//! counters, allocation sites and reclaim contexts must map every compiled
//! table onto itself: each op to the op at the renamed pc with its ids
//! renamed, and pc + 1 to renamed pc + 1 wherever a program falls through;
//! each site (mask, pages, destination, kind, targets and its whole
//! flags table with the interned context ids); the reclaim contexts (the
//! superblock they name) and the policy's world-independent answer cache;
//! the task infos (kind, server device, start pc, flags); the device infos
//! (resolved device, servers, serve programs, serve locks); the sources
//! (kind, superblock, locks in order, I/O device); `fs_dev`; the
//! filesystems' inode-reclaim mode (`sb_writes`, the only per-fs scenario
//! field `step` reads); the NOFS locks; and the initial world. A failed
//! check means no symmetry, so a wrong guess costs reduction, never
//! soundness. Transpositions (b0 b) for every b of a class generate the
//! whole symmetric group on the class, and positional pairing makes the
//! composed renamings the positional ones, so every block permutation of a
//! class is an automorphism.
//!
//! Why verifying the tables suffices: `step`, `choices`, `status` and the
//! dependency questions read a world only through these tables, indexed by
//! the world's ids, and treat ids as names: they compare them for equality,
//! use them as indices, or quantify over all of them (every task, source,
//! filesystem, device); the one exception, the OOM killer's tie-break by
//! slot, is excluded (no block renaming when `oom_killer` is on and a user
//! task moves). The model's `Policy::touch` compares superblocks only for
//! equality and asks about a source only through [`crate::sim`]'s
//! `WorldDeps`, by its id. So for a verified renaming `r`,
//! `step(r(w), r(c)) == r(step(w, c))` and `choices(r(w)) == r(choices(w))`
//! (as sets): `r` is an automorphism of the transition system, and
//! `tests/symmetry.rs` in the checker checks exactly that on random
//! reachable worlds.
//!
//! Renaming a world: filesystem states and locks move to their new
//! slots, lock owners and `serving` are renamed as tasks, `bio_dev` as a
//! device, `rsrc` as a source while its task reclaims (the flusher's as a
//! filesystem while it writes back; otherwise it is 0 and means nothing),
//! `pc` as a program counter for user tasks and busy servers (an idle
//! server's pc is its `start`, 0, and never read).

use crate::scenario::{MAX_DEVICES, MAX_FS, MAX_LOCKS, MAX_TASKS};
use crate::sim::{Choice, ChoiceKind, Dest, Kind, Op, Sim, SiteKind, SrcKind};
use crate::world::{NONE, ST_IDLE, ST_OP_IO, ST_REC, ST_REC_IO, Task, World};

mod verify;

/// At most one block per device.
const MAX_BLOCKS: usize = MAX_DEVICES;
/// Sources a renaming can name (more: no block symmetry).
const MAX_SRCS: usize = 64;

/// What hangs off one served device, each list ascending by id; lists of
/// blocks of one class are paired positionally.
#[derive(Clone, Debug, Default)]
struct Block {
    devs: Vec<u8>,
    fss: Vec<u8>,
    tasks: Vec<u8>,
    locks: Vec<u8>,
    srcs: Vec<u8>,
    /// Program segments: (start pc, length).
    segs: Vec<(u16, u16)>,
}

/// Interchangeable device subtrees of one compiled scenario.
#[derive(Clone, Debug, Default)]
pub struct Subtrees {
    blocks: Vec<Block>,
    /// Verified classes of blocks (indices into `blocks`), two or more each.
    classes: Vec<Vec<u8>>,
    /// For each pc: (block, segment) holding it, or `NONE` twice.
    pc_seg: Vec<(u8, u8)>,
    /// For each task (block, tag), and each device, fs, source (block,
    /// position), or `(NONE, _)`.
    task_at: Vec<(u8, u8)>,
    dev_at: Vec<(u8, u8)>,
    fs_at: Vec<(u8, u8)>,
    src_at: Vec<(u8, u8)>,
    /// Locks in no block, for the block keys.
    global_locks: Vec<u8>,
    /// Tasks in no block, for the block keys.
    global_tasks: Vec<u8>,
    /// Per task: is it a flusher / a server / a user task.
    kinds: Vec<Kind>,
}

/// A renaming of the whole compiled scenario induced by a permutation of
/// blocks: `x[old] == new`.
#[derive(Clone, Debug)]
pub struct Renaming {
    block: [u8; MAX_BLOCKS],
    task: [u8; MAX_TASKS],
    dev: [u8; MAX_DEVICES],
    fs: [u8; MAX_FS],
    lock: [u8; MAX_LOCKS],
    src: [u8; MAX_SRCS],
}

fn ident<const N: usize>() -> [u8; N] {
    std::array::from_fn(|i| i as u8)
}

impl Renaming {
    fn identity() -> Renaming {
        Renaming {
            block: ident(),
            task: ident(),
            dev: ident(),
            fs: ident(),
            lock: ident(),
            src: ident(),
        }
    }

    fn is_identity(&self) -> bool {
        self.block == ident::<MAX_BLOCKS>()
    }
}

/// `x` renamed by `map` (`NONE` stays `NONE`).
#[inline]
fn ren(map: &[u8], x: u8) -> u8 {
    if x == NONE { NONE } else { map[x as usize] }
}

/// The end (inclusive) of the program segment starting at `start`: its
/// first `stop` op.
fn seg_len(sim: &Sim, start: u16, stop: fn(&Op) -> bool) -> Option<u16> {
    let s = start as usize;
    sim.ops
        .get(s..)?
        .iter()
        .position(stop)
        .map(|i| (i + 1) as u16)
}

impl Subtrees {
    /// Find the blocks of `sim`, guess pairings, and keep the verified ones.
    pub fn new(sim: &Sim) -> Subtrees {
        let none = Subtrees::default();
        if sim.srcs.len() > MAX_SRCS || sim.devs.len() > MAX_BLOCKS {
            return none;
        }
        let Some(mut st) = Self::discover(sim) else {
            return none;
        };
        // Group by shape, then verify against a pivot.
        let shape = |b: &Block| {
            (
                b.devs.len(),
                b.fss.len(),
                b.tasks.len(),
                b.locks.len(),
                b.srcs.len(),
                b.segs.iter().map(|s| s.1).collect::<Vec<_>>(),
            )
        };
        let mut left: Vec<u8> = (0..st.blocks.len() as u8).collect();
        while let Some(&pivot) = left.first() {
            let mut class = vec![pivot];
            let mut rest = Vec::new();
            for &b in &left[1..] {
                let same = shape(&st.blocks[b as usize]) == shape(&st.blocks[pivot as usize]);
                let mut perm: [u8; MAX_BLOCKS] = ident();
                perm.swap(pivot as usize, b as usize);
                if same && st.verify(sim, &st.renaming(&perm)) {
                    class.push(b);
                } else {
                    rest.push(b);
                }
            }
            if class.len() > 1 {
                st.classes.push(class);
            }
            left = rest;
        }
        st
    }

    /// The blocks of `sim` with their item tables, or `None` when some
    /// item would belong to two blocks.
    fn discover(sim: &Sim) -> Option<Subtrees> {
        let nt = sim.tasks.len();
        let mut blocks: Vec<Block> = Vec::new();
        let mut dev_block = vec![NONE; sim.devs.len()];
        for (d, slot) in dev_block.iter_mut().enumerate() {
            if sim.devs[d].resolved as usize == d {
                *slot = blocks.len() as u8;
                blocks.push(Block::default());
            }
        }
        for (e, info) in sim.devs.iter().enumerate() {
            dev_block[e] = dev_block[info.resolved as usize];
            blocks[dev_block[e] as usize].devs.push(e as u8);
        }
        let fs_block: Vec<u8> = sim.fs_dev.iter().map(|&d| dev_block[d as usize]).collect();
        for (f, &b) in fs_block.iter().enumerate() {
            blocks[b as usize].fss.push(f as u8);
        }
        let src_block: Vec<u8> = sim
            .srcs
            .iter()
            .map(|s| match s.kind {
                SrcKind::Clean(f) | SrcKind::Sb(f) => fs_block[f as usize],
                SrcKind::Anon | SrcKind::Bufio(_) => NONE,
            })
            .collect();
        for (s, &b) in src_block.iter().enumerate() {
            if b != NONE {
                blocks[b as usize].srcs.push(s as u8);
            }
        }
        // Tasks: servers with their device; user tasks by what their
        // program touches (exactly one block).
        let mut task_block = vec![NONE; nt];
        let mut segs_of_task: Vec<Option<(u16, u16)>> = vec![None; nt];
        for t in 0..nt {
            let info = &sim.tasks[t];
            match info.kind {
                Kind::Server { dev, .. } => task_block[t] = dev_block[dev as usize],
                Kind::User => {
                    let len = seg_len(sim, info.start, |op| matches!(op, Op::Exit))?;
                    segs_of_task[t] = Some((info.start, len));
                    let mut touched = vec![false; blocks.len()];
                    if let Some(f) = sim.sc.tasks.get(t).and_then(|s| s.fs) {
                        touched[fs_block[f] as usize] = true;
                    }
                    for op in &sim.ops[info.start as usize..(info.start + len) as usize] {
                        let fss: Vec<u8> = match *op {
                            Op::Submit { dev, .. } => {
                                touched[dev_block[dev as usize] as usize] = true;
                                vec![]
                            }
                            Op::Writeback { fs, .. } => vec![fs],
                            Op::Alloc(site) => {
                                let s = &sim.sites[site as usize];
                                let mut v = vec![];
                                if let Dest::Dirty(f) | Dest::Clean(f) = s.dest {
                                    v.push(f);
                                }
                                if let SiteKind::PageCache(f) = s.kind {
                                    v.push(f);
                                }
                                v
                            }
                            _ => vec![],
                        };
                        for f in fss {
                            touched[fs_block[f as usize] as usize] = true;
                        }
                    }
                    let mut it = (0..blocks.len()).filter(|&b| touched[b]);
                    if let (Some(b), None) = (it.next(), it.next()) {
                        task_block[t] = b as u8;
                    }
                }
                Kind::Flusher | Kind::Kswapd | Kind::BufioWorker(_) => {}
            }
        }
        for (t, &b) in task_block.iter().enumerate() {
            if b != NONE {
                blocks[b as usize].tasks.push(t as u8);
            }
        }
        // Segments: each block's user programs, then its servers' programs.
        let mut pc_seg = vec![(NONE, NONE); sim.ops.len()];
        let claim = |pc_seg: &mut Vec<(u8, u8)>, b: u8, k: u8, (start, len): (u16, u16)| {
            for p in start..start + len {
                if pc_seg[p as usize].0 != NONE {
                    return false;
                }
                pc_seg[p as usize] = (b, k);
            }
            true
        };
        for (b, block) in blocks.iter_mut().enumerate() {
            for &t in &block.tasks {
                if let Some(seg) = segs_of_task[t as usize]
                    && !block.segs.iter().any(|s| s.0 == seg.0)
                {
                    block.segs.push(seg);
                }
            }
            for &d in &block.devs {
                let info = &sim.devs[d as usize];
                if info.servers.is_empty() {
                    continue;
                }
                for start in [info.write_pc, info.read_pc] {
                    let len = seg_len(sim, start, |op| matches!(op, Op::Complete))?;
                    block.segs.push((start, len));
                }
            }
            for k in 0..block.segs.len() {
                if !claim(&mut pc_seg, b as u8, k as u8, block.segs[k]) {
                    return None;
                }
            }
        }
        // Locks: those referenced by one block alone.
        const GLOBAL: u8 = NONE - 1;
        let mut lock_block = vec![NONE; sim.sc.locks.len()];
        let mut refer = |l: u8, b: u8| {
            let slot = &mut lock_block[l as usize];
            *slot = if *slot == NONE || *slot == b {
                b
            } else {
                GLOBAL
            };
        };
        for (p, op) in sim.ops.iter().enumerate() {
            if let Op::Lock(l) | Op::Unlock(l) = *op {
                let b = pc_seg[p].0;
                refer(l, if b == NONE { GLOBAL } else { b });
            }
        }
        for (s, info) in sim.srcs.iter().enumerate() {
            let b = if src_block[s] == NONE {
                GLOBAL
            } else {
                src_block[s]
            };
            info.locks.iter().for_each(|&l| refer(l, b));
        }
        for (d, info) in sim.devs.iter().enumerate() {
            info.serve_locks
                .iter()
                .for_each(|&l| refer(l, dev_block[d]));
        }
        let mut global_locks = Vec::new();
        for (l, &b) in lock_block.iter().enumerate() {
            if b == NONE || b == GLOBAL {
                global_locks.push(l as u8);
            } else {
                blocks[b as usize].locks.push(l as u8);
            }
        }
        let at = |n: usize, of: &dyn Fn(&Block) -> &Vec<u8>| {
            let mut v = vec![(NONE, NONE); n];
            for (b, block) in blocks.iter().enumerate() {
                for (k, &x) in of(block).iter().enumerate() {
                    v[x as usize] = (b as u8, k as u8);
                }
            }
            v
        };
        // A block's task is named in keys by its tag: the position of the
        // first task of the block with its kind, program and flags, so
        // that interchangeable tasks (`symmetry.rs`) look alike and the
        // key does not depend on how they are numbered.
        let mut task_at = at(nt, &|b| &b.tasks);
        for block in &blocks {
            for (k, &t) in block.tasks.iter().enumerate() {
                let like = |u: u8| {
                    let (a, b) = (&sim.tasks[u as usize], &sim.tasks[t as usize]);
                    (a.kind, a.start, a.flags) == (b.kind, b.start, b.flags)
                };
                let first = block.tasks.iter().position(|&u| like(u)).unwrap_or(k);
                task_at[t as usize].1 = first as u8;
            }
        }
        Some(Subtrees {
            dev_at: at(sim.devs.len(), &|b| &b.devs),
            fs_at: at(sim.fs_dev.len(), &|b| &b.fss),
            src_at: at(sim.srcs.len(), &|b| &b.srcs),
            global_tasks: (0..nt as u8)
                .filter(|&t| task_at[t as usize].0 == NONE)
                .collect(),
            task_at,
            global_locks,
            pc_seg,
            kinds: sim.tasks.iter().map(|t| t.kind).collect(),
            blocks,
            classes: Vec::new(),
        })
    }

    /// No two subtrees are interchangeable.
    pub fn is_trivial(&self) -> bool {
        self.classes.is_empty()
    }

    /// The classes, each a list of blocks given by their task slots (for
    /// tests and the story).
    pub fn classes(&self) -> Vec<Vec<Vec<u8>>> {
        self.classes
            .iter()
            .map(|c| {
                c.iter()
                    .map(|&b| self.blocks[b as usize].tasks.clone())
                    .collect()
            })
            .collect()
    }

    /// The renaming that moves block `b` to block `perm[b]` (a
    /// permutation of blocks of equal shape), item by item.
    fn renaming(&self, perm: &[u8; MAX_BLOCKS]) -> Renaming {
        let mut r = Renaming::identity();
        r.block = *perm;
        for (b, from) in self.blocks.iter().enumerate() {
            let to = &self.blocks[perm[b] as usize];
            if perm[b] as usize == b {
                continue;
            }
            let pairs = |map: &mut [u8], a: &[u8], c: &[u8]| {
                for (&x, &y) in a.iter().zip(c) {
                    map[x as usize] = y;
                }
            };
            pairs(&mut r.task, &from.tasks, &to.tasks);
            pairs(&mut r.dev, &from.devs, &to.devs);
            pairs(&mut r.fs, &from.fss, &to.fss);
            pairs(&mut r.lock, &from.locks, &to.locks);
            pairs(&mut r.src, &from.srcs, &to.srcs);
        }
        r
    }

    /// A renaming permuting the blocks of each class by `perms` (one
    /// permutation of `0..len` per class, in [`Subtrees::classes`] order).
    pub fn renaming_of(&self, perms: &[Vec<usize>]) -> Renaming {
        let mut perm: [u8; MAX_BLOCKS] = ident();
        for (class, p) in self.classes.iter().zip(perms) {
            for (i, &j) in p.iter().enumerate() {
                perm[class[i] as usize] = class[j];
            }
        }
        self.renaming(&perm)
    }

    /// Program counter `p` renamed.
    #[inline]
    fn pc(&self, r: &Renaming, p: u16) -> u16 {
        match self.pc_seg.get(p as usize) {
            Some(&(b, k)) if b != NONE && r.block[b as usize] != b => {
                let (from, to) = (
                    self.blocks[b as usize].segs[k as usize].0,
                    self.blocks[r.block[b as usize] as usize].segs[k as usize].0,
                );
                to + (p - from)
            }
            _ => p,
        }
    }

    /// Whether task `t`'s `pc` is a program counter (else its `start`).
    fn pc_named(&self, t: usize, task: &Task) -> bool {
        match self.kinds[t] {
            Kind::User => true,
            Kind::Server { .. } => task.st != ST_IDLE,
            _ => false,
        }
    }

    /// What task `t`'s `rsrc` names: 1 a source, 2 a filesystem, 0 nothing.
    fn rsrc_names(&self, t: usize, task: &Task) -> u8 {
        match (self.kinds[t], task.st) {
            (Kind::Flusher, ST_OP_IO) => 2,
            (Kind::Flusher, _) => 0,
            (_, ST_REC | ST_REC_IO) => 1,
            _ => 0,
        }
    }

    /// Task `t`'s value with every id in it renamed. Exhaustive over
    /// `Task`: a new field does not compile until it says what it names.
    fn rename_task(&self, r: &Renaming, t: usize, task: &Task) -> Task {
        let Task {
            pc,
            st: _,
            flags: _,
            held: _,
            bits: _,
            rsrc,
            rstep: _,
            serving,
            bio_dev,
            bio_st: _,
            bio_pages: _,
            bio_flags: _,
            saved: _,
            rep: _,
        } = *task;
        let mut out = *task;
        if self.pc_named(t, task) {
            out.pc = self.pc(r, pc);
        }
        out.serving = ren(&r.task, serving);
        out.bio_dev = ren(&r.dev, bio_dev);
        out.rsrc = match self.rsrc_names(t, task) {
            1 => r.src[rsrc as usize],
            2 => r.fs[rsrc as usize],
            _ => rsrc,
        };
        out
    }

    /// `w` renamed by `r`. Exhaustive over `World`: a new field does not
    /// compile until it says what it names.
    pub fn apply(&self, w: &World, r: &Renaming) -> World {
        let World {
            free: _,
            anon: _,
            swap_free: _,
            kswapd_awake: _,
            nt,
            nf,
            nb: _,
            nl,
            fs,
            // dm-bufio clients are never in a block: fixed.
            bufio: _,
            locks,
            tasks,
        } = w;
        let mut n = w.clone();
        for (f, state) in fs[..*nf as usize].iter().enumerate() {
            n.fs[r.fs[f] as usize] = *state;
        }
        for (l, &owner) in locks[..*nl as usize].iter().enumerate() {
            n.locks[r.lock[l] as usize] = ren(&r.task, owner);
        }
        for (t, task) in tasks[..*nt as usize].iter().enumerate() {
            n.tasks[r.task[t] as usize] = self.rename_task(r, t, task);
        }
        n
    }

    /// The same decision in the renamed world.
    pub fn apply_choice(&self, c: Choice, r: &Renaming) -> Choice {
        let Choice { kind, task, arg } = c;
        let (task, arg) = match kind {
            ChoiceKind::Complete => (r.dev[task as usize], r.task[arg as usize]),
            ChoiceKind::Serve => (r.task[task as usize], r.task[arg as usize]),
            ChoiceKind::Run => (r.task[task as usize], arg),
            ChoiceKind::Reclaim => (r.task[task as usize], r.src[arg as usize]),
            ChoiceKind::Flush => (r.task[task as usize], r.fs[arg as usize]),
        };
        Choice { kind, task, arg }
    }

    /// The renaming that sorts each class's blocks by [`Subtrees::key`]
    /// (ties keep their order), `None` for the identity.
    pub fn canonical_renaming(&self, w: &World) -> Option<Renaming> {
        if self.classes.is_empty() {
            return None;
        }
        let keys = self.keys(w);
        let mut perm: [u8; MAX_BLOCKS] = ident();
        for class in &self.classes {
            let mut keyed: Vec<(u64, u8)> = class.iter().map(|&b| (keys[b as usize], b)).collect();
            keyed.sort_by_key(|&(k, _)| k);
            for (&(_, old), &new) in keyed.iter().zip(class) {
                perm[old as usize] = new;
            }
        }
        let r = self.renaming(&perm);
        (!r.is_identity()).then_some(r)
    }

    /// `w`'s canonical form under block permutations, `None` when `w` is it.
    pub fn canonical(&self, w: &World) -> Option<World> {
        self.canonical_renaming(w).map(|r| self.apply(w, &r))
    }

    /// Whether every class's blocks have distinct keys in `w`: then the
    /// canonical form does not depend on the names (with ties, it is still
    /// a renaming of `w`, so merging stays sound, only less complete).
    pub fn keys_distinct(&self, w: &World) -> bool {
        let all = self.keys(w);
        self.classes.iter().all(|class| {
            let mut keys: Vec<u64> = class.iter().map(|&b| all[b as usize]).collect();
            keys.sort_unstable();
            keys.windows(2).all(|p| p[0] != p[1])
        })
    }

    /// Every block's sort key in `w`. Pass 1 ([`Subtrees::key`]) sees
    /// another block only as "some other block"; when two blocks of a
    /// class tie, pass 2 adds each block's links to other blocks (a task
    /// of one naming a task, device, source, filesystem, program or lock of
    /// the other), the other block named by its pass-1 key (blocks in no
    /// class by their index: no renaming moves them). Both passes use
    /// names only through keys, so equal worlds up to renaming get equal
    /// keys.
    fn keys(&self, w: &World) -> [u64; MAX_BLOCKS] {
        let mut id = [0u64; MAX_BLOCKS];
        for (b, slot) in id.iter_mut().enumerate().take(self.blocks.len()) {
            *slot = 1 << 63 | b as u64;
        }
        let mut tied = false;
        for class in &self.classes {
            let mut keys: Vec<u64> = class.iter().map(|&b| self.key(w, b)).collect();
            for (&b, &k) in class.iter().zip(&keys) {
                id[b as usize] = k;
            }
            keys.sort_unstable();
            tied |= keys.windows(2).any(|p| p[0] == p[1]);
        }
        if !tied {
            return id;
        }
        // Links (from block, tag, field, to block, position there).
        let mut items: Vec<Vec<u64>> = vec![Vec::new(); self.blocks.len()];
        let mut link = |x: u8, tag: u8, field: u64, (y, k): (u8, u8)| {
            if y == NONE || y == x {
                return;
            }
            let item = |dir: u64, mine: u8, other: u8, theirs: u8| {
                let mut h = Mix(dir << 8 | field);
                h.add(u64::from(mine));
                h.add(id[other as usize]);
                h.add(u64::from(theirs));
                h.0
            };
            items[x as usize].push(item(0, tag, y, k));
            items[y as usize].push(item(1, k, x, tag));
        };
        let at = |v: &[(u8, u8)], i: u8| -> (u8, u8) {
            if i == NONE {
                (NONE, NONE)
            } else {
                v[i as usize]
            }
        };
        for t in 0..w.nt as usize {
            let (x, tag) = self.task_at[t];
            if x == NONE {
                continue;
            }
            let task = &w.tasks[t];
            link(x, tag, 0, at(&self.task_at, task.serving));
            link(x, tag, 1, at(&self.dev_at, task.bio_dev));
            match self.rsrc_names(t, task) {
                1 => link(x, tag, 2, at(&self.src_at, task.rsrc)),
                2 => link(x, tag, 3, at(&self.fs_at, task.rsrc)),
                _ => {}
            }
            if self.pc_named(t, task)
                && let Some(&(y, k)) = self.pc_seg.get(task.pc as usize)
            {
                link(x, tag, 4, (y, k));
            }
        }
        for (y, block) in self.blocks.iter().enumerate() {
            for (k, &l) in block.locks.iter().enumerate() {
                let o = w.locks[l as usize];
                if o != NONE {
                    let (x, tag) = self.task_at[o as usize];
                    if x != NONE {
                        link(x, tag, 5, (y as u8, k as u8));
                    }
                }
            }
        }
        let mut out = id;
        for class in &self.classes {
            for &b in class {
                let list = &mut items[b as usize];
                list.sort_unstable();
                let mut h = Mix(id[b as usize]);
                list.iter().for_each(|&x| h.add(x));
                out[b as usize] = h.0;
            }
        }
        out
    }

    /// A hash of block `b`'s part of `w` in block-relative names: its
    /// filesystems, its locks' owners, its tasks' values, which global
    /// locks its tasks hold and what of it the global tasks name.
    fn key(&self, w: &World, b: u8) -> u64 {
        let block = &self.blocks[b as usize];
        let mut h = Mix(0x9e37_79b9_7f4a_7c15);
        // An id relative to block `b`: global ids as they are, this
        // block's by position, other blocks' by position and a mark.
        let rel = |at: &[(u8, u8)], x: u8| -> u64 {
            if x == NONE {
                return 0xffff;
            }
            match at[x as usize] {
                (NONE, _) => u64::from(x),
                (ob, k) if ob == b => 0x1_0000 | u64::from(k),
                (_, k) => 0x2_0000 | u64::from(k),
            }
        };
        let rel_pc = |p: u16| -> u64 {
            match self.pc_seg.get(p as usize) {
                Some(&(ob, k)) if ob != NONE => {
                    let off = p - self.blocks[ob as usize].segs[k as usize].0;
                    let mark = if ob == b { 1 << 40 } else { 2 << 40 };
                    mark | u64::from(k) << 16 | u64::from(off)
                }
                _ => u64::from(p),
            }
        };
        let task_words = |t: usize, task: &Task, h: &mut Mix| {
            let mut bare = *task;
            bare.pc = 0;
            bare.serving = 0;
            bare.bio_dev = 0;
            bare.rsrc = 0;
            bare.words().iter().for_each(|&x| h.add(x));
            h.add(if self.pc_named(t, task) {
                rel_pc(task.pc)
            } else {
                u64::from(task.pc)
            });
            h.add(rel(&self.task_at, task.serving));
            h.add(rel(&self.dev_at, task.bio_dev));
            h.add(match self.rsrc_names(t, task) {
                1 => rel(&self.src_at, task.rsrc),
                2 => rel(&self.fs_at, task.rsrc),
                _ => u64::from(task.rsrc),
            });
        };
        for &f in &block.fss {
            let fs = w.fs[f as usize];
            h.add(u64::from(fs.clean) | u64::from(fs.dirty) << 16);
            h.add(u64::from(fs.inodes) | u64::from(fs.dirty_inodes) << 16);
        }
        for &l in &block.locks {
            h.add(rel(&self.task_at, w.locks[l as usize]));
        }
        // The tasks as a multiset of (tag, value): renaming interchangeable
        // tasks leaves the key alone.
        let mut tasks = [0u64; MAX_TASKS];
        for (i, &t) in block.tasks.iter().enumerate() {
            let mut th = Mix(u64::from(self.task_at[t as usize].1));
            task_words(t as usize, &w.tasks[t as usize], &mut th);
            tasks[i] = th.0;
        }
        let tasks = &mut tasks[..block.tasks.len()];
        tasks.sort_unstable();
        tasks.iter().for_each(|&x| h.add(x));
        for &l in &self.global_locks {
            let o = w.locks[l as usize];
            h.add(if o != NONE && self.task_at[o as usize].0 == b {
                u64::from(self.task_at[o as usize].1) + 1
            } else {
                0
            });
        }
        // What the global tasks name in this block (other names: 0).
        let mine = |at: &[(u8, u8)], x: u8| -> u64 {
            if x != NONE && (x as usize) < at.len() && at[x as usize].0 == b {
                u64::from(at[x as usize].1) + 1
            } else {
                0
            }
        };
        for &t in &self.global_tasks {
            let task = &w.tasks[t as usize];
            h.add(mine(&self.task_at, task.serving));
            h.add(mine(&self.dev_at, task.bio_dev));
            h.add(match self.rsrc_names(t as usize, task) {
                1 => mine(&self.src_at, task.rsrc),
                2 => mine(&self.fs_at, task.rsrc),
                _ => 0,
            });
            if self.pc_named(t as usize, task) {
                h.add(match self.pc_seg.get(task.pc as usize) {
                    Some(&(ob, k)) if ob == b => u64::from(k) + 1,
                    _ => 0,
                });
            }
        }
        h.0
    }
}

/// A small streaming hash for block keys.
struct Mix(u64);

impl Mix {
    #[inline]
    fn add(&mut self, x: u64) {
        let m = u128::from(self.0 ^ x) * 0x9fb2_1c65_1e98_df25;
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}
