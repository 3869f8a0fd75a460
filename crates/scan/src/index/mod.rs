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

use std::collections::{HashMap, HashSet};
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
    by_name: HashMap<String, Vec<u32>>,
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
    /// path order.
    pub fn build(mut per_file: Vec<(String, FileIndex)>) -> Index {
        per_file.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ix = Index::default();
        let mut def_names: HashSet<u64> = HashSet::new();
        let mut def_base = Vec::with_capacity(per_file.len());
        for (fi, (_, f)) in per_file.iter_mut().enumerate() {
            def_base.push(ix.defs.len() as u32);
            for d in std::mem::take(&mut f.defs) {
                def_names.insert(hash(d.name.as_bytes()));
                ix.by_name
                    .entry(d.name.clone())
                    .or_default()
                    .push(ix.defs.len() as u32);
                ix.defs.push(Def {
                    file: fi as u32,
                    rec: d,
                });
            }
        }
        ix.calls
            .reserve(per_file.iter().map(|f| f.1.calls.len()).sum());
        for (fi, (path, f)) in per_file.into_iter().enumerate() {
            let base = def_base[fi];
            ix.calls.extend(f.calls.iter().map(|&(h, off, d)| {
                (
                    h,
                    CallSite {
                        file: fi as u32,
                        offset: off,
                        caller: base + d,
                    },
                )
            }));
            ix.values
                .extend(f.refs.iter().filter(|r| def_names.contains(&r.0)).map(
                    |&(h, off, field)| {
                        (
                            h,
                            ValueUse {
                                field,
                                file: fi as u32,
                                offset: off,
                            },
                        )
                    },
                ));
            ix.defines
                .extend(f.defines.iter().map(|&(h, off)| (h, fi as u32, off)));
            ix.field_calls
                .extend(f.field_calls.iter().map(|&(h, off, d)| {
                    (
                        h,
                        CallSite {
                            file: fi as u32,
                            offset: off,
                            caller: base + d,
                        },
                    )
                }));
            ix.files.push(path);
        }
        ix.calls.sort_unstable_by_key(|c| (c.0, c.1));
        ix.values
            .sort_unstable_by_key(|v| (v.0, v.1.file, v.1.offset, v.1.field));
        ix.defines.sort_unstable();
        ix.field_calls.sort_unstable_by_key(|c| (c.0, c.1));
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
        self.by_name.get(name).map_or(&[], |v| v.as_slice())
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

    pub fn def_named_in(&self, file: u32, name: &str) -> Option<u32> {
        self.defs_named(name)
            .iter()
            .copied()
            .find(|&d| self.defs[d as usize].file == file)
    }
}
