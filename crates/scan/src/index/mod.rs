//! The whole-tree index: built in the same parallel pass that reads every
//! C file for the prefilter, with the light tokenizer of [`tokenize`] (no
//! syntax tree). Per file it records function definitions (name, span,
//! parameters, return type), call sites by callee-name hash, object-like
//! `#define`s, and every use of a function name as a value (a
//! registration `.scan_objects = f`, `x->scan_objects = f`, an ops table,
//! `INIT_WORK(&w, f)`): such a function can be called through a pointer,
//! so its callers are never all known. Function-like macros are
//! definitions too (`is_macro`), with the calls of their bodies, and calls
//! through a field (`ops->write_iter(...)`) are kept by field name, so a
//! function registered as `.field = f` has those sites as callers.
//!
//! Names are stored as 64-bit hashes in sorted vectors (tens of millions of
//! call sites would not fit as strings); a hit is verified against the
//! file's text when it is used. Files are numbered in path order, so every
//! lookup returns its hits in (file, offset) order whatever the thread
//! schedule was.

pub mod tokenize;

use rayon::prelude::*;
use std::collections::HashSet;

/// Names are already hashed ([`hash`]): a set of them needs no second hash.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdHash = std::hash::BuildHasherDefault<IdHasher>;
pub use tokenize::{DefRec, FileIndex, hash};

/// A function definition somewhere in the tree.
#[derive(Clone, Debug)]
pub struct Def {
    pub file: u32,
    pub rec: DefRec,
}

/// A call site: the file, the byte offset of the callee name, and the
/// definition (index into [`Index::defs`]) whose body holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallSite {
    pub file: u32,
    pub offset: u32,
    pub caller: u32,
}

/// A function name used as a value: registered in a field (`field` is the
/// field name's hash, 0 for a plain value use such as an argument).
#[derive(Clone, Copy, Debug)]
pub struct ValueUse {
    pub field: u32,
    pub file: u32,
    pub offset: u32,
}

#[derive(Default)]
pub struct Index {
    pub files: Vec<String>,
    pub defs: Vec<Def>,
    /// Definitions sorted by (name hash, name, def): one name's
    /// definitions are a contiguous run, in (file, offset) order.
    by_name: Vec<u32>,
    by_name_hash: Vec<u64>,
    /// (callee hash, site), sorted.
    calls: Vec<(u64, CallSite)>,
    /// (function-name hash, use), sorted; only names of defined functions.
    values: Vec<(u64, ValueUse)>,
    /// (macro-name hash, file, offset), sorted.
    defines: Vec<(u64, u32, u32)>,
    /// (field hash, site) of calls through a field, `x->field(...)`, sorted.
    field_calls: Vec<(u32, CallSite)>,
}

impl Index {
    /// Merge per-file indexes (any order) into one; files are numbered in
    /// path order. The copies and sorts run in parallel: every key is
    /// unique (a file and an offset), so the result does not depend on
    /// the thread schedule.
    pub fn build(mut per_file: Vec<(String, FileIndex)>) -> Index {
        per_file.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut ix = Index::default();
        let mut def_base = Vec::with_capacity(per_file.len());
        for (fi, (_, f)) in per_file.iter_mut().enumerate() {
            def_base.push(ix.defs.len() as u32);
            ix.defs
                .extend(std::mem::take(&mut f.defs).into_iter().map(|rec| Def {
                    file: fi as u32,
                    rec,
                }));
        }
        let mut named: Vec<(u64, u32)> = ix
            .defs
            .par_iter()
            .enumerate()
            .map(|(i, d)| (hash(d.rec.name.as_bytes()), i as u32))
            .collect();
        named.par_sort_unstable_by(|a, b| {
            let name = |i: u32| ix.defs[i as usize].rec.name.as_str();
            (a.0, name(a.1), a.1).cmp(&(b.0, name(b.1), b.1))
        });
        let def_names: HashSet<u64, IdHash> = named.iter().map(|n| n.0).collect();
        let (by_name_hash, by_name) = named.into_iter().unzip();
        ix.by_name_hash = by_name_hash;
        ix.by_name = by_name;
        let numbered = || {
            per_file
                .par_iter()
                .enumerate()
                .map(|(fi, (_, f))| (fi as u32, def_base[fi], f))
        };
        let field_calls = || call_sites(numbered(), |f| &f.field_calls);
        let ((calls, field_calls), (values, defines)) = rayon::join(
            || rayon::join(|| call_sites(numbered(), |f| &f.calls), field_calls),
            || {
                rayon::join(
                    || {
                        let mut v: Vec<(u64, ValueUse)> = numbered()
                            .flat_map_iter(|(file, _, f)| {
                                f.refs.iter().filter(|r| def_names.contains(&r.0)).map(
                                    move |&(h, offset, field)| {
                                        (
                                            h,
                                            ValueUse {
                                                field,
                                                file,
                                                offset,
                                            },
                                        )
                                    },
                                )
                            })
                            .collect();
                        v.par_sort_unstable_by_key(|v| (v.0, v.1.file, v.1.offset, v.1.field));
                        v
                    },
                    || {
                        let mut v: Vec<(u64, u32, u32)> = numbered()
                            .flat_map_iter(|(file, _, f)| {
                                f.defines.iter().map(move |&(h, off)| (h, file, off))
                            })
                            .collect();
                        v.par_sort_unstable();
                        v
                    },
                )
            },
        );
        ix.calls = calls;
        ix.field_calls = field_calls;
        ix.values = values;
        ix.defines = defines;
        ix.files = per_file.into_iter().map(|(p, _)| p).collect();
        ix
    }

    /// Calls through a field named `field` (`x->field(...)`), in (file,
    /// offset) order; the hash is 32 bits, so verify the text.
    pub fn field_calls_to(&self, field: &str) -> impl Iterator<Item = CallSite> + '_ {
        let h = tokenize::field_hash(field.as_bytes());
        let start = self.field_calls.partition_point(|c| c.0 < h);
        self.field_calls[start..]
            .iter()
            .take_while(move |c| c.0 == h)
            .map(|c| c.1)
    }

    /// Definitions named `name`, in (file, offset) order.
    pub fn defs_named(&self, name: &str) -> &[u32] {
        let h = hash(name.as_bytes());
        let lo = self.by_name_hash.partition_point(|&x| x < h);
        let hi = self.by_name_hash.partition_point(|&x| x <= h);
        // A hash collision puts other names in the run, sorted by name.
        let run = &self.by_name[lo..hi];
        let name_of = |d: &u32| self.defs[*d as usize].rec.name.as_str();
        let a = run.partition_point(|d| name_of(d) < name);
        let b = run.partition_point(|d| name_of(d) <= name);
        &run[a..b]
    }

    /// Call sites whose callee name hashes like `name` (verify the text).
    pub fn calls_to(&self, name: &str) -> impl Iterator<Item = CallSite> + '_ {
        let h = hash(name.as_bytes());
        let start = self.calls.partition_point(|c| c.0 < h);
        self.calls[start..]
            .iter()
            .take_while(move |c| c.0 == h)
            .map(|c| c.1)
    }

    /// Uses of function `name` as a value (registrations, arguments).
    pub fn value_uses(&self, name: &str) -> impl Iterator<Item = ValueUse> + '_ {
        let h = hash(name.as_bytes());
        let start = self.values.partition_point(|c| c.0 < h);
        self.values[start..]
            .iter()
            .take_while(move |c| c.0 == h)
            .map(|c| c.1)
    }

    /// Functions registered into a field named `field` anywhere in the tree
    /// (`.scan_objects = f`, `s->scan_objects = f`), as name hashes.
    pub fn registered_as(&self, field: &str) -> HashSet<u64> {
        let f = tokenize::field_hash(field.as_bytes());
        self.values
            .iter()
            .filter(|v| v.1.field == f)
            .map(|v| v.0)
            .collect()
    }

    /// Where object-like macro `name` is defined: (file, offset of the name).
    pub fn define_sites(&self, name: &str) -> impl Iterator<Item = (u32, u32)> + '_ {
        let h = hash(name.as_bytes());
        let start = self.defines.partition_point(|c| c.0 < h);
        self.defines[start..]
            .iter()
            .take_while(move |c| c.0 == h)
            .map(|c| (c.1, c.2))
    }

    /// The file index of a path, if indexed.
    pub fn file_id(&self, path: &str) -> Option<u32> {
        self.files
            .binary_search_by(|p| p.as_str().cmp(path))
            .ok()
            .map(|i| i as u32)
    }

    /// Definitions of one file, in text order.
    pub fn defs_in(&self, file: u32) -> impl Iterator<Item = u32> + '_ {
        let start = self.defs.partition_point(|d| d.file < file);
        let end = self.defs.partition_point(|d| d.file <= file);
        (start as u32)..(end as u32)
    }

    /// The definition named `name` in the file at `path`: the index's id
    /// of a function the rules are looking at.
    pub fn def_at(&self, path: &str, name: &str) -> Option<u32> {
        self.file_id(path).and_then(|f| self.def_named_in(f, name))
    }

    pub fn def_named_in(&self, file: u32, name: &str) -> Option<u32> {
        self.defs_named(name)
            .iter()
            .copied()
            .find(|&d| self.defs[d as usize].file == file)
    }
}

/// Every file's call records (by callee-name hash or field-name hash) as
/// tree-wide [`CallSite`]s, sorted by key then site so lookups binary-search
/// and output does not depend on the thread count.
fn call_sites<'a, K>(
    numbered: impl ParallelIterator<Item = (u32, u32, &'a FileIndex)>,
    pick: impl Fn(&'a FileIndex) -> &'a [(K, u32, u32)] + Sync + Send,
) -> Vec<(K, CallSite)>
where
    K: Copy + Ord + Send + Sync + 'a,
{
    let mut v: Vec<(K, CallSite)> = numbered
        .flat_map_iter(|(file, base, f)| {
            pick(f).iter().map(move |&(h, offset, d)| {
                let caller = base + d;
                (
                    h,
                    CallSite {
                        file,
                        offset,
                        caller,
                    },
                )
            })
        })
        .collect();
    v.par_sort_unstable_by_key(|c| (c.0, c.1));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tokenize::index_file;

    fn build(order: &[usize]) -> Index {
        let files = [
            (
                "b.c",
                &b"int f(void)\n{\n\treturn g(1);\n}\nstatic int h(void)\n{\n\treturn f();\n}\n"[..],
            ),
            (
                "a.c",
                b"int f(void)\n{\n\treturn 0;\n}\nstruct s x = {\n\t.scan_objects = f,\n};\n",
            ),
            (
                "c.h",
                b"#define F_GFP GFP_NOFS\nstatic inline int g(int a)\n{\n\treturn f() + a;\n}\n",
            ),
        ];
        Index::build(
            order
                .iter()
                .map(|&i| (files[i].0.to_string(), index_file(files[i].1)))
                .collect(),
        )
    }

    /// The merged index does not depend on the order the walker's threads
    /// delivered the files in: files are numbered by path, lookups come
    /// back in (file, offset) order.
    #[test]
    fn lookups_are_in_path_order_whatever_the_input_order() {
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let ix = build(&order);
            assert_eq!(ix.files, ["a.c", "b.c", "c.h"]);
            let f: Vec<u32> = ix
                .defs_named("f")
                .iter()
                .map(|&d| ix.defs[d as usize].file)
                .collect();
            assert_eq!(f, [0, 1]);
            assert_eq!(ix.defs_named("g").len(), 1);
            assert!(ix.defs_named("nope").is_empty());
            let callers: Vec<&str> = ix
                .calls_to("f")
                .map(|c| ix.defs[c.caller as usize].rec.name.as_str())
                .collect();
            assert_eq!(callers, ["h", "g"]);
            assert_eq!(ix.registered_as("scan_objects").len(), 1);
            assert_eq!(ix.define_sites("F_GFP").collect::<Vec<_>>().len(), 1);
        }
    }
}
