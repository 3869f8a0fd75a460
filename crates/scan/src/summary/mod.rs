//! Function summaries over the whole-tree index, computed on demand from
//! callees up and cached.
//!
//! A summary is a model value: the gfp mask a helper returns is a
//! `GfpValue` computed by instantiating the helper's body at its callers'
//! argument values (`massage_gfp_flags(dev, gfp)` is `gfp | __GFP_NORETRY`
//! whatever `gfp` is; `kmem_flags_convert(KM_NOFS)` takes the `flags &
//! KM_NOFS` arm and clears `__GFP_FS`); a scope effect is the memalloc
//! scope a function leaves open (`xfs_trans_alloc` through
//! `xfs_trans_set_context`'s `tp->t_pflags = memalloc_nofs_save()`) or
//! closes (`xfs_trans_commit` through `xfs_trans_clear_context`), applied
//! with the model's `memalloc_save`/`current_gfp_context`.
//!
//! Every query carries a call depth; past [`MAX_DEPTH`] the answer is
//! "unknown" with that reason. Caches are keyed by the depth too, so an
//! answer never depends on which thread asked first: output is identical
//! for any thread count. Recursion ends at the depth bound in summaries,
//! and on the path itself in caller walks ([`Interproc::coverage`]).

use crate::analyze::{FileCtx, Func, KernelFacts, ScopeKind, c_parser, index_function_core};
use crate::index::{CallSite, Index};
use rayon::prelude::*;
use reclaimscope_model::gfp::GfpValue;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tree_sitter::{Node, Tree};

mod locate;
mod resolve;
mod walk;

pub use locate::{call_at, function_node};
use locate::{callee_pos, failed_open, reaches};

/// Calls followed down (helpers) or up (callers) before giving up.
pub const MAX_DEPTH: u32 = 6;
/// Levels of callers asked for a parameter's value, and how many callers
/// one level may have (past either the value is unknown).
pub const MAX_PARAM_DEPTH: u32 = 3;
pub const MAX_PARAM_CALLERS: usize = 64;
/// Caller functions one coverage question may visit.
pub const MAX_VISITS: usize = 200;

/// One step of a call chain shown with a finding.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ChainStep {
    pub file: String,
    pub line: usize,
    pub function: String,
    pub note: String,
}

/// A function parsed on demand: its region's text and syntax tree.
pub struct Parsed {
    pub file: u32,
    pub src: String,
    pub tree: Tree,
    pub line_offset: usize,
    /// Byte offset of the region in the file.
    pub start: usize,
}

/// A NOFS/NOIO scope open at a call, and where it comes from.
#[derive(Clone, Debug)]
pub struct ScopeOrigin {
    pub kind: ScopeKind,
    pub line: usize,
    pub how: String,
}

/// What a function does to the task's memalloc scopes, seen by its caller.
#[derive(Clone, Debug, Default)]
pub struct ScopeEffect {
    /// Returns with this scope open (`xfs_trans_alloc`, `start_this_handle`).
    pub opens: Option<ScopeKind>,
    /// Closes a scope a paired function opened (`xfs_trans_commit`,
    /// `jbd2_journal_stop`).
    pub closes: Option<ScopeKind>,
}

/// Coverage of an allocation by NOFS/NOIO scopes over its caller chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    Covered(Vec<ChainStep>),
    Mixed(Vec<ChainStep>, Vec<ChainStep>),
    Uncovered(Vec<ChainStep>),
    Unknown(String, Vec<ChainStep>),
}

/// The scope open at each call of a function, by the call's file offset.
type CallScopes = Vec<(u32, Option<ScopeOrigin>)>;

#[derive(Default)]
pub(crate) struct Caches {
    parsed: HashMap<u32, Option<Arc<Parsed>>>,
    sources: HashMap<u32, Option<Arc<str>>>,
    defines: HashMap<u32, Arc<HashMap<String, String>>>,
    macro_bodies: HashMap<String, Option<String>>,
    returned: HashMap<(u32, Vec<GfpValue>, u32), Option<GfpValue>>,
    params: HashMap<(u32, usize, u32), GfpValue>,
    scopes: HashMap<(u32, u32), ScopeEffect>,
    call_scopes: HashMap<u32, Arc<CallScopes>>,
    callers: HashMap<u32, Arc<Vec<CallSite>>>,
    coverage: HashMap<(u32, bool), Coverage>,
    pub(crate) entries: HashMap<u32, Arc<crate::entry::Entries>>,
    pub(crate) field_regs: HashMap<String, usize>,
}

/// The index plus the summary caches; shared by the rule threads.
pub struct Interproc {
    pub index: Index,
    pub facts: KernelFacts,
    header_macros: HashMap<String, String>,
    /// Names of functions that may open or close a scope: callers (up to
    /// [`MAX_DEPTH`] levels) of a `memalloc_*_save/restore`.
    scope_names: HashSet<String>,
    /// Finds `memalloc_no*` or a [`Interproc::scope_names`] name in a
    /// function's text: a function that spells neither cannot have a
    /// NOFS/NOIO scope open at any of its calls, so it need not be parsed.
    scope_spellers: Option<aho_corasick::AhoCorasick>,
    /// Functions registered as `scan_objects` anywhere in the tree.
    scan_objects: HashSet<u64>,
    /// Per file: helper and scope-function names it calls, parsed around
    /// like rule tokens (see `reach.rs`).
    extra_tokens: std::collections::BTreeMap<String, Vec<String>>,
    caches: Mutex<Caches>,
}

const SCOPE_CALLS: &[&str] = &[
    "memalloc_nofs_save",
    "memalloc_nofs_restore",
    "memalloc_noio_save",
    "memalloc_noio_restore",
];

impl Interproc {
    pub fn new(index: Index, facts: KernelFacts, header_macros: HashMap<String, String>) -> Self {
        let scan_objects = index.registered_as("scan_objects");
        let mut ip = Interproc {
            index,
            facts,
            header_macros,
            scope_names: HashSet::new(),
            scope_spellers: None,
            scan_objects,
            extra_tokens: Default::default(),
            caches: Mutex::new(Caches::default()),
        };
        ip.find_scope_functions();
        let mut spellings: Vec<&str> = ip.scope_names.iter().map(|s| s.as_str()).collect();
        spellings.push("memalloc_no");
        ip.scope_spellers = aho_corasick::AhoCorasick::new(spellings).ok();
        ip
    }

    /// Functions that open or close a scope for their caller, found from
    /// the `memalloc_*` calls up, one level at a time; a level keeps only
    /// the callers whose effect is not balanced inside them, so the search
    /// stays near the few scope carriers (xfs_trans_*, jbd2, ...).
    fn find_scope_functions(&mut self) {
        let mut frontier: Vec<String> = SCOPE_CALLS.iter().map(|s| s.to_string()).collect();
        for _ in 0..MAX_DEPTH {
            let mut callers: Vec<u32> = Vec::new();
            for name in &frontier {
                callers.extend(self.index.calls_to(name).map(|s| s.caller));
            }
            callers.sort_unstable();
            callers.dedup();
            let mut next: Vec<String> = Vec::new();
            // Tentatively known: a caller's effect is read with every
            // name found so far, its own included.
            let tentative: Vec<String> = callers
                .iter()
                .map(|&d| self.def_name(d).to_string())
                .filter(|n| !self.scope_names.contains(n))
                .collect();
            self.scope_names.extend(tentative.iter().cloned());
            // In parallel: each effect depends only on (function, depth).
            // Read at depth 1 whatever the level: the effect of a caller
            // five levels up (the ext4_journal_start() macro over
            // start_this_handle()) needs the depth budget for its callees.
            let this = &*self;
            let with_effect: Vec<u32> = callers
                .par_iter()
                .copied()
                .filter(|&d| {
                    let e = this.scope_effect(d, 1);
                    e.opens.is_some() || e.closes.is_some()
                })
                .collect();
            next.extend(with_effect.iter().map(|&d| self.def_name(d).to_string()));
            next.sort();
            next.dedup();
            for n in &tentative {
                if !next.contains(n) {
                    self.scope_names.remove(n);
                }
            }
            next.retain(|n| !frontier.contains(n));
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        // Effects were computed while the set grew: forget them.
        self.lock().scopes.clear();
    }

    pub fn scope_names(&self) -> &HashSet<String> {
        &self.scope_names
    }

    pub fn set_extra_tokens(&mut self, t: std::collections::BTreeMap<String, Vec<String>>) {
        self.extra_tokens = t;
    }

    pub fn extra_tokens(&self, path: &str) -> &[String] {
        self.extra_tokens.get(path).map_or(&[], |v| v.as_slice())
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.caches.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn source(&self, file: u32) -> Option<Arc<str>> {
        if let Some(s) = self.lock().sources.get(&file) {
            return s.clone();
        }
        let path = self.index.files.get(file as usize)?;
        let s: Option<Arc<str>> = std::fs::read(path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Arc::from);
        self.lock().sources.insert(file, s.clone());
        s
    }

    /// `#define`s a function in `file` sees: gfp masks from headers, then the file's own.
    fn file_defines(&self, file: u32) -> Arc<HashMap<String, String>> {
        if let Some(d) = self.lock().defines.get(&file) {
            return d.clone();
        }
        let mut d = self.header_macros.clone();
        if let Some(src) = self.source(file) {
            for (k, v) in crate::analyze::textual_defines(&src) {
                d.insert(k, v);
            }
        }
        let d = Arc::new(d);
        self.lock().defines.insert(file, d.clone());
        d
    }

    /// Parse one definition's region with tree-sitter (cached).
    pub fn parsed(&self, def: u32) -> Option<Arc<Parsed>> {
        if let Some(p) = self.lock().parsed.get(&def) {
            return p.clone();
        }
        let p = self.parse_def(def).map(Arc::new);
        self.lock().parsed.insert(def, p.clone());
        p
    }

    fn parse_def(&self, def: u32) -> Option<Parsed> {
        let d = self.index.defs.get(def as usize)?;
        if d.rec.is_macro {
            return None;
        }
        let src = self.source(d.file)?;
        let (start, end) = (d.rec.decl_start as usize, d.rec.body_end as usize);
        let region = src.get(start..end.min(src.len()))?.to_string();
        thread_local! {
            static PARSER: std::cell::RefCell<tree_sitter::Parser> = std::cell::RefCell::new(c_parser());
        }
        let tree = PARSER.with_borrow_mut(|p| p.parse(&region, None))?;
        let line_offset = memchr::memchr_iter(b'\n', &src.as_bytes()[..start]).count();
        Some(Parsed {
            file: d.file,
            src: region,
            tree,
            line_offset,
            start,
        })
    }

    /// Run `f` over the definition's analysed function. `bindings` are the
    /// parameter values of an instantiated summary (`None`: ask callers).
    pub fn with_func<R>(
        &self,
        def: u32,
        bindings: Option<Vec<GfpValue>>,
        depth: u32,
        f: impl FnOnce(&FileCtx<'_>, &Func<'_, '_>, &Parsed) -> R,
    ) -> Option<R> {
        self.with_func_as(def, bindings, depth, true, f)
    }

    /// [`Interproc::with_func`] for a question about an argument or the
    /// returned value: `func.eval`, `all_calls` and `returns` only (no
    /// allocation or scope of the function is classified, which would ask
    /// its callers and callees in turn).
    pub fn with_eval<R>(
        &self,
        def: u32,
        bindings: Option<Vec<GfpValue>>,
        depth: u32,
        f: impl FnOnce(&FileCtx<'_>, &Func<'_, '_>, &Parsed) -> R,
    ) -> Option<R> {
        self.with_func_as(def, bindings, depth, false, f)
    }

    fn with_func_as<R>(
        &self,
        def: u32,
        bindings: Option<Vec<GfpValue>>,
        depth: u32,
        full: bool,
        f: impl FnOnce(&FileCtx<'_>, &Func<'_, '_>, &Parsed) -> R,
    ) -> Option<R> {
        let p = self.parsed(def)?;
        let path = self.index.files.get(p.file as usize)?.clone();
        let defines = self.file_defines(p.file);
        let fctx = FileCtx {
            path: &path,
            defines,
            scan_objects_fns: HashSet::new(),
            facts: self.facts,
            interp: Some(self),
        };
        let node = function_node(&p.tree)?;
        let body = node.child_by_field_name("body")?;
        let func = index_function_core(
            &fctx,
            &p.src,
            p.line_offset,
            node,
            body,
            bindings,
            depth,
            full,
        );
        Some(f(&fctx, &func, &p))
    }

    /// Definitions a call to `name` from `file` may reach: the file's own
    /// (static) definition first, else every non-static one in the tree.
    pub fn resolve(&self, name: &str, file: Option<u32>) -> Vec<u32> {
        let all = self.index.defs_named(name);
        if let Some(f) = file
            && let Some(&d) = all.iter().find(|&&d| self.index.defs[d as usize].file == f)
        {
            return vec![d];
        }
        let public: Vec<u32> = all.iter().copied().filter(|&d| self.visible(d)).collect();
        if public.is_empty() && all.len() == 1 && file.is_none() {
            return all.to_vec();
        }
        public
    }

    /// A definition other files can call: not static, or in a header
    /// (a `static inline` in a header is compiled into every includer).
    pub(crate) fn visible(&self, def: u32) -> bool {
        let d = &self.index.defs[def as usize];
        let header = self.file_name(d.file).ends_with(".h");
        header || (!d.rec.is_macro && !d.rec.ret.contains("static"))
    }

    /// Call sites that reach `def`: same file for a static function;
    /// otherwise every file that does not define its own function of that
    /// name. The name at each site is checked against the text.
    pub fn callers_of(&self, def: u32) -> Arc<Vec<CallSite>> {
        if let Some(c) = self.lock().callers.get(&def) {
            return c.clone();
        }
        let c = Arc::new(self.callers_uncached(def));
        self.lock().callers.insert(def, c.clone());
        c
    }

    fn callers_uncached(&self, def: u32) -> Vec<CallSite> {
        let d = &self.index.defs[def as usize];
        let name = d.rec.name.as_str();
        let is_static = !self.visible(def);
        let mut out = Vec::new();
        for site in self.index.calls_to(name) {
            if is_static && site.file != d.file {
                continue;
            }
            // A macro in a header reaches every user: `#ifndef` fallbacks
            // elsewhere (floppy.c's own fd_dma_mem_alloc) are alternatives.
            if !is_static
                && !d.rec.is_macro
                && site.file != d.file
                && self.index.def_named_in(site.file, name).is_some()
            {
                continue;
            }
            let ok = self.source(site.file).is_some_and(|s| {
                s.get(site.offset as usize..)
                    .is_some_and(|t| t.starts_with(name))
            });
            if ok {
                out.push(site);
            }
        }
        out
    }

    /// Where `def` is used as a value (a function pointer): the first such
    /// place, as "registered as .FIELD at FILE:LINE" or "its address is
    /// taken at FILE:LINE".
    pub fn address_taken(&self, def: u32) -> Option<String> {
        let d = &self.index.defs[def as usize];
        let is_static = !self.visible(def);
        let u = self
            .index
            .value_uses(&d.rec.name)
            .find(|u| !is_static || u.file == d.file)?;
        let file = self.index.files.get(u.file as usize)?;
        let line = self.line_of(u.file, u.offset);
        Some(if u.field != 0 {
            format!("it is registered as a function pointer at {file}:{line}")
        } else {
            format!("its address is taken at {file}:{line}")
        })
    }

    pub fn line_of(&self, file: u32, offset: u32) -> usize {
        self.source(file).map_or(0, |s| {
            let o = (offset as usize).min(s.len());
            memchr::memchr_iter(b'\n', &s.as_bytes()[..o]).count() + 1
        })
    }

    pub fn def_name(&self, def: u32) -> &str {
        &self.index.defs[def as usize].rec.name
    }

    pub fn file_name(&self, file: u32) -> &str {
        self.index
            .files
            .get(file as usize)
            .map_or("", |s| s.as_str())
    }

    /// Is `name` (defined in `file`) a shrinker callback: registered as
    /// `scan_objects` anywhere, or with the `scan_objects` signature
    /// `unsigned long f(struct shrinker *, struct shrink_control *)`?
    pub fn is_shrinker_callback(&self, file: &str, name: &str) -> bool {
        if self
            .scan_objects
            .contains(&crate::index::hash(name.as_bytes()))
        {
            return true;
        }
        let Some(f) = self.index.file_id(file) else {
            return false;
        };
        self.index.def_named_in(f, name).is_some_and(|d| {
            let r = &self.index.defs[d as usize].rec;
            let p = r.params.replace(' ', "");
            r.ret.contains("unsigned long")
                && p.starts_with("(structshrinker*")
                && p.contains(",structshrink_control*")
                && p.matches(',').count() == 1
        })
    }

    /// The scope effect of calling `name` from `file`; `None` when the
    /// callee cannot touch a scope.
    pub fn callee_scope_effect(&self, name: &str, file: &str, depth: u32) -> Option<ScopeEffect> {
        if depth > MAX_DEPTH || !self.scope_names.contains(name) {
            return None;
        }
        let f = self.index.file_id(file);
        let defs = self.resolve(name, f);
        let mut eff: Option<ScopeEffect> = None;
        for d in defs {
            let e = self.scope_effect(d, depth);
            eff = Some(match eff {
                None => e,
                // Different definitions (arch variants) must agree.
                Some(prev) => ScopeEffect {
                    opens: prev.opens.filter(|k| e.opens == Some(*k)),
                    closes: prev.closes.filter(|k| e.closes == Some(*k)),
                },
            });
        }
        eff.filter(|e| e.opens.is_some() || e.closes.is_some())
    }

    /// Does `def` return with a scope open, or close one it did not open?
    /// Read from its own `memalloc_*_save()` into a non-local place (a
    /// struct field, as `xfs_trans_set_context` and `start_this_handle`
    /// do) and from the effects of its callees, in text order.
    pub fn scope_effect(&self, def: u32, depth: u32) -> ScopeEffect {
        if let Some(e) = self.lock().scopes.get(&(def, depth)) {
            return e.clone();
        }
        if self.index.defs[def as usize].rec.is_macro {
            let e = self.macro_scope_effect(def, depth);
            self.lock().scopes.insert((def, depth), e.clone());
            return e;
        }
        let e = self
            .with_func(def, Some(Vec::new()), depth, |_, func, _| {
                let mut events: Vec<(Node<'_>, bool, ScopeKind)> = Vec::new();
                for s in &func.saves {
                    let paired = s.local
                        || func
                            .restores
                            .iter()
                            .any(|r| r.var.is_some() && r.var == s.var && r.via.is_none());
                    if !paired {
                        events.push((s.call, true, s.kind));
                    }
                }
                for r in &func.restores {
                    let paired = r.via.is_none()
                        && func
                            .saves
                            .iter()
                            .any(|s| s.var.is_some() && s.var == r.var && s.via.is_none());
                    if !paired {
                        events.push((r.call, false, r.kind));
                    }
                }
                events.sort_by_key(|e| (e.0.start_byte(), e.1));
                // Each way out (every `return`, and the end of the body)
                // sees the events before it that are not in a branch or
                // loop it is outside of: xfs_trans_alloc()'s `if (error)
                // { xfs_trans_cancel(tp); return error; }` does not undo
                // the scope its `return 0` leaves open. The function
                // opens a scope if some way out leaves one open, closes
                // one if some way out closes one it did not open.
                let mut exits: Vec<usize> = func.returns.iter().map(|r| r.end_byte()).collect();
                exits.push(func.body.end_byte().saturating_sub(1));
                let mut eff = ScopeEffect::default();
                for exit in exits {
                    let mut open: Vec<ScopeKind> = Vec::new();
                    for (node, is_open, kind) in &events {
                        if !matches!(kind, ScopeKind::Nofs | ScopeKind::Noio)
                            || node.start_byte() >= exit
                        {
                            continue;
                        }
                        let on_the_way = reaches(*node, func.body, exit);
                        if *is_open {
                            if on_the_way && !failed_open(*node, exit, func) {
                                open.push(*kind);
                            }
                        } else if let Some(i) = open.iter().rposition(|k| k == kind) {
                            if on_the_way {
                                open.remove(i);
                            }
                        } else {
                            // A close of a scope opened elsewhere counts
                            // on any path: xfs_trans_clear_context()
                            // restores only `if (current->journal_info
                            // == tp)`.
                            eff.closes.get_or_insert(*kind);
                        }
                    }
                    if let Some(k) = open.last() {
                        eff.opens.get_or_insert(*k);
                    }
                }
                eff
            })
            .unwrap_or_default();
        self.lock().scopes.insert((def, depth), e.clone());
        e
    }

    /// A function-like macro's effect: its body's calls in text order
    /// (`#define ext4_journal_start(inode, type, nblocks)
    /// __ext4_journal_start(...)` opens what `__ext4_journal_start` opens).
    fn macro_scope_effect(&self, def: u32, depth: u32) -> ScopeEffect {
        let d = &self.index.defs[def as usize];
        let Some(src) = self.source(d.file) else {
            return ScopeEffect::default();
        };
        let file = self.file_name(d.file).to_string();
        let Some(text) = src.get(d.rec.decl_start as usize..d.rec.body_end as usize) else {
            return ScopeEffect::default();
        };
        let fi = crate::index::tokenize::index_file(text.as_bytes());
        let mut calls: Vec<u32> = fi.calls.iter().map(|c| c.1).collect();
        calls.sort_unstable();
        let mut open: Vec<ScopeKind> = Vec::new();
        let mut eff = ScopeEffect::default();
        for off in calls {
            let rest = &text[off as usize..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            let (opens, closes) = match name {
                "memalloc_nofs_save" => (Some(ScopeKind::Nofs), None),
                "memalloc_noio_save" => (Some(ScopeKind::Noio), None),
                "memalloc_nofs_restore" => (None, Some(ScopeKind::Nofs)),
                "memalloc_noio_restore" => (None, Some(ScopeKind::Noio)),
                _ => match self.callee_scope_effect(name, &file, depth + 1) {
                    Some(e) => (e.opens, e.closes),
                    None => (None, None),
                },
            };
            if let Some(k) = closes {
                match open.iter().rposition(|x| *x == k) {
                    Some(i) => {
                        open.remove(i);
                    }
                    None => eff.closes = Some(k),
                }
            }
            if let Some(k) = opens {
                open.push(k);
            }
        }
        eff.opens = open.last().copied();
        eff
    }

    /// NOFS/NOIO scopes open at each call inside `def` (by file offset).
    fn call_scopes(&self, def: u32) -> Arc<CallScopes> {
        if let Some(c) = self.lock().call_scopes.get(&def) {
            return c.clone();
        }
        if !self.may_open_scope(def) {
            let none = Arc::new(CallScopes::new());
            self.lock().call_scopes.insert(def, none.clone());
            return none;
        }
        let v: CallScopes = self
            .with_func(def, Some(Vec::new()), 0, |_, func, p| {
                func.all_calls
                    .iter()
                    .map(|c| {
                        let pos = c.start_byte();
                        let key = callee_pos(*c);
                        let origin = func
                            .open_scopes_at(pos)
                            .into_iter()
                            .filter(|s| matches!(s.kind, ScopeKind::Nofs | ScopeKind::Noio))
                            .max_by_key(|s| s.kind == ScopeKind::Noio)
                            .map(|s| ScopeOrigin {
                                kind: s.kind,
                                line: func.line_of(s.call),
                                how: match &s.via {
                                    Some(f) => format!("{f}() opens a {} scope", s.kind.name()),
                                    None => format!("memalloc_{}_save()", s.kind.name()),
                                },
                            });
                        ((p.start + key) as u32, origin)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let v = Arc::new(v);
        self.lock().call_scopes.insert(def, v.clone());
        v
    }

    /// Can a NOFS/NOIO scope be open at some call of `def`: does its text
    /// name a `memalloc_no*` call or a function that opens a scope? (A
    /// function that names neither has no scope open at any of its calls;
    /// most callers on a coverage walk are such, and are not parsed.)
    fn may_open_scope(&self, def: u32) -> bool {
        let (Some(ac), Some(d)) = (&self.scope_spellers, self.index.defs.get(def as usize)) else {
            return true;
        };
        let Some(src) = self.source(d.file) else {
            return true;
        };
        let body = src
            .as_bytes()
            .get(d.rec.decl_start as usize..(d.rec.body_end as usize).min(src.len()))
            .unwrap_or(b"");
        ac.is_match(body)
    }

    /// Classify every caller chain that reaches `def`: covered when a
    /// NOFS/NOIO scope is open at some call on the chain, uncovered when
    /// the chain reaches a function nobody in the tree calls, unknown
    /// through a function pointer, past the depth bound or the visit budget.
    /// A chain that loops back onto itself (recursion) adds nothing: the
    /// entries into the cycle are the other callers.
    /// `noio`: the mask lacks `__GFP_IO` too, so only a NOIO scope covers it.
    pub fn coverage(&self, def: u32, start: ChainStep, noio: bool) -> Coverage {
        let key = (def, noio);
        let cached = self.lock().coverage.get(&key).cloned();
        let c = match cached {
            Some(c) => c,
            None => {
                let c = self.coverage_of(def, noio);
                self.lock().coverage.insert(key, c.clone());
                c
            }
        };
        // The allocation site ends every chain.
        let end = |mut v: Vec<ChainStep>| {
            v.push(start.clone());
            v
        };
        match c {
            Coverage::Covered(a) => Coverage::Covered(end(a)),
            Coverage::Mixed(a, b) => Coverage::Mixed(end(a), end(b)),
            Coverage::Uncovered(a) => Coverage::Uncovered(end(a)),
            Coverage::Unknown(why, a) => Coverage::Unknown(why, end(a)),
        }
    }
}
