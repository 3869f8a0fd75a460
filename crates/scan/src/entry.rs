//! Who calls a function, including through function pointers: the direct
//! call sites, the calls through every field it is registered in
//! (`.finish_item = xfs_extent_free_finish_item` and
//! `ops->finish_item(...)`, as smatch tracks function pointers by
//! member), and the kernel entry points it is registered as
//! (`.write_iter`, `INIT_WORK(&w, f)`), whose calling contexts the model
//! states (`reclaimscope_model::entry`). Whatever cannot be followed is
//! "unknown" with the reason: no call through the field found, too many,
//! an address stored in a variable.

use crate::index::CallSite;
use crate::summary::Interproc;
use reclaimscope_model::entry::{self, Root};
use std::sync::Arc;

/// Calls through one field followed as callers; past it the field is too
/// generic to follow without types.
pub const MAX_FIELD_SITES: usize = 16;
/// Functions registered in one field name tree-wide; past it `->field()`
/// calls of unrelated struct types cannot be told apart.
pub const MAX_FIELD_TARGETS: usize = 48;

/// How a function is reached.
#[derive(Clone, Debug, Default)]
pub struct Entries {
    /// Call sites: direct, or through a field (`Some(note)` says which
    /// registration makes the site a caller).
    pub sites: Vec<(CallSite, Option<String>)>,
    /// Kernel entry points the function is registered as, with where.
    pub roots: Vec<RootHit>,
    /// Why some callers cannot be known (first reason found).
    pub unknown: Option<String>,
}

/// A registration that makes the function a kernel entry point.
#[derive(Clone, Debug)]
pub struct RootHit {
    pub root: &'static Root,
    /// `.write_iter of struct file_operations` / `argument 2 of INIT_WORK()`.
    pub slot: String,
    pub file: String,
    pub line: usize,
}

impl Interproc {
    /// The callers of `def` (cached): see [`Entries`].
    pub fn entries(&self, def: u32) -> Arc<Entries> {
        if let Some(e) = self.lock().entries.get(&def) {
            return e.clone();
        }
        let e = Arc::new(self.entries_uncached(def));
        self.lock().entries.insert(def, e.clone());
        e
    }

    fn entries_uncached(&self, def: u32) -> Entries {
        let d = &self.index.defs[def as usize];
        let name = d.rec.name.clone();
        let dfile = d.file;
        let is_static = !self.visible(def);
        let mut out = Entries {
            sites: self.callers_of(def).iter().map(|&s| (s, None)).collect(),
            ..Entries::default()
        };
        let mut fields_done: Vec<(Option<String>, String)> = Vec::new();
        let uses: Vec<_> = self
            .index
            .value_uses(&name)
            .filter(|u| !is_static || u.file == dfile)
            .collect();
        for u in uses {
            let Some(src) = self.source(u.file) else {
                continue;
            };
            let off = u.offset as usize;
            if src.get(off..).is_none_or(|t| !t.starts_with(name.as_str())) {
                continue; // a hash collision
            }
            let path = self.file_name(u.file).to_string();
            let line = self.line_of(u.file, u.offset);
            let at = format!("{path}:{line}");
            let before = &src[..off];
            if u.field != 0 {
                let Some((field, arrow_at)) = assigned_field(before) else {
                    continue;
                };
                let strukt = if src.as_bytes()[arrow_at] == b'.' {
                    initializer_struct(&src[..arrow_at])
                } else {
                    None
                };
                if let Some(root) = entry::field_root(strukt.as_deref(), &field) {
                    let slot = match &strukt {
                        Some(s) => format!(".{field} of struct {s}"),
                        None => format!("->{field}"),
                    };
                    out.roots.push(RootHit {
                        root,
                        slot,
                        file: path,
                        line,
                    });
                    continue;
                }
                // The struct whose field this is, when the designator is
                // direct (`.actor = f` in `struct dir_context x = {`, not
                // `.dir_iter.actor = f` in `struct xchk_dir_ctx`).
                let owner = strukt
                    .clone()
                    .filter(|_| src[..arrow_at].trim_end().ends_with(['{', ',']));
                let key = (owner.clone(), field.clone());
                if fields_done.contains(&key) {
                    continue;
                }
                fields_done.push(key);
                let targets = self.field_registrations(&field);
                if targets > MAX_FIELD_TARGETS {
                    out.unknown.get_or_insert(format!(
                        "{name}() is reached through a function pointer: registered as .{field} at {at}, and {targets} functions are registered as .{field} in the tree (more than {MAX_FIELD_TARGETS}): calls through ->{field}() cannot be told apart without types"
                    ));
                    continue;
                }
                // A call whose receiver is declared in the calling function
                // as a pointer to another struct cannot reach this
                // registration; one whose type is not visible is kept,
                // matched by the field name alone.
                let sites: Vec<(CallSite, Option<String>)> = self
                    .index
                    .field_calls_to(&field)
                    .filter(|s| {
                        self.source(s.file).is_some_and(|t| {
                            t.get(s.offset as usize..)
                                .is_some_and(|t| t.starts_with(field.as_str()))
                        })
                    })
                    .map(|s| (s, self.receiver_struct(&s)))
                    .filter(|(_, t)| match (&owner, t) {
                        (Some(o), Some(t)) => o == t,
                        _ => true,
                    })
                    .collect();
                if sites.is_empty() {
                    out.unknown.get_or_insert(format!(
                        "{name}() is reached through a function pointer: registered as .{field} at {at}, and no call through ->{field}() was found"
                    ));
                } else if sites.len() > MAX_FIELD_SITES {
                    out.unknown.get_or_insert(format!(
                        "{name}() is reached through a function pointer: registered as .{field} at {at}, and ->{field}() is called at {} places (more than {MAX_FIELD_SITES})",
                        sites.len()
                    ));
                } else {
                    out.sites.extend(sites.into_iter().map(|(s, t)| {
                        let note = match (&owner, t) {
                            (Some(o), Some(_)) => format!(
                                "calls ->{field}() of struct {o}, where {name}() is registered ({at})"
                            ),
                            _ => format!(
                                "calls ->{field}(), where {name}() is registered ({at}; matched by name)"
                            ),
                        };
                        (s, Some(note))
                    }));
                }
            } else if let Some((callee, arg)) = enclosing_call(before) {
                match entry::arg_root(&callee, arg) {
                    Some(root) => out.roots.push(RootHit {
                        root,
                        slot: format!("argument {} of {callee}()", arg + 1),
                        file: path,
                        line,
                    }),
                    None => {
                        out.unknown.get_or_insert(format!(
                            "{name}() is passed as a function pointer to {callee}() at {at}"
                        ));
                    }
                }
            } else {
                out.unknown.get_or_insert(format!(
                    "{name}() is reached through a function pointer: its address is taken at {at}"
                ));
            }
        }
        out
    }

    /// Is the value of macro `def` the call whose name is at file offset
    /// `offset`? (`SW._dma_mem_alloc(size)`: yes; `({ x = f(); ... })`,
    /// `f(a) ?: g(a)`: no.)
    pub fn macro_yields_call(&self, def: u32, offset: u32) -> bool {
        let d = &self.index.defs[def as usize];
        let Some(src) = self.source(d.file) else {
            return false;
        };
        let (start, end, off) = (
            d.rec.decl_start as usize,
            d.rec.body_end as usize,
            offset as usize,
        );
        let Some(text) = src.get(start..end) else {
            return false;
        };
        let Some(rel) = off.checked_sub(start).filter(|&r| r < text.len()) else {
            return false;
        };
        // The body starts after the parameter list's `)`.
        let Some(params_close) = text.find(')') else {
            return false;
        };
        if rel <= params_close {
            return false;
        }
        let body = text[params_close + 1..].replace("\\\n", " ");
        let body = body.trim();
        let rel_body = text[params_close + 1..rel].replace("\\\n", " ");
        let prefix = rel_body.trim_start();
        if body.contains(';') || prefix.contains(['?', '=', ',', ';']) {
            return false;
        }
        let prefix_ok = prefix.is_empty()
            || prefix.ends_with('.')
            || prefix.ends_with("->")
            || prefix.trim_end().ends_with(')');
        // The call's parentheses close at the body's end.
        let after = &body[prefix.len()..];
        let Some(open) = after.find('(') else {
            return false;
        };
        let mut depth = 0i32;
        let mut close = None;
        for (i, c) in after[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(open + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        prefix_ok
            && close.is_some_and(|c| after[c + 1..].trim_end().trim_end_matches(')').is_empty())
    }

    /// Functions registered as `.field` / `->field =` anywhere (cached).
    /// `struct T` when the call `p->field(` at `site` goes through a
    /// plain variable `p` that the calling function declares as `struct T
    /// *p` (a parameter or a local); `None` when that is not visible (a
    /// longer path `a->ops->f(`, a typedef, a global).
    fn receiver_struct(&self, site: &CallSite) -> Option<String> {
        let src = self.source(site.file)?;
        let d = &self.index.defs.get(site.caller as usize)?.rec;
        let text = src.get(d.decl_start as usize..site.offset as usize)?;
        let recv = text.trim_end().strip_suffix("->")?.trim_end();
        let start = recv
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let var = &recv[start..];
        if var.is_empty()
            || var.starts_with(|c: char| c.is_ascii_digit())
            || recv[..start].trim_end().ends_with(['>', '.', ')', ']'])
        {
            return None;
        }
        let mut types: Vec<&str> = Vec::new();
        let mut from = 0;
        while let Some(i) = recv[from..start].find(var).map(|i| i + from) {
            from = i + var.len();
            let word_start =
                i == 0 || !recv[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            let word_end =
                !recv[from..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            if word_start
                && word_end
                && let Some(t) = declared_struct(&recv[..i])
            {
                types.push(t);
            }
        }
        types.dedup();
        match types.as_slice() {
            [t] => Some(t.to_string()),
            _ => None,
        }
    }

    fn field_registrations(&self, field: &str) -> usize {
        if let Some(&n) = self.lock().field_regs.get(field) {
            return n;
        }
        let n = self.index.registered_as(field).len();
        self.lock().field_regs.insert(field.to_string(), n);
        n
    }
}

/// `... .field = ` or `... ->field = ` right before a value: the field
/// name and the byte offset of the `.` (or the `>` of `->`).
fn assigned_field(before: &str) -> Option<(String, usize)> {
    let b = before.trim_end();
    let b = b.strip_suffix('=')?.trim_end();
    let end = b.len();
    let start = b
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let field = &b[start..end];
    if field.is_empty() {
        return None;
    }
    let rest = b[..start].trim_end();
    let op = rest.len().checked_sub(1)?;
    matches!(rest.as_bytes()[op], b'.' | b'>').then(|| (field.to_string(), op))
}

/// The struct type of the initializer a designated `.field = f` is in:
/// `[static] [const] struct S name[[...]] = {` before the unmatched `{`.
fn initializer_struct(before: &str) -> Option<String> {
    let b = before.as_bytes();
    let mut depth = 0i32;
    let mut i = b.len();
    let open = loop {
        if i == 0 {
            return None;
        }
        i -= 1;
        match b[i] {
            b'}' => depth += 1,
            b'{' if depth == 0 => break i,
            b'{' => depth -= 1,
            b';' if depth == 0 => return None,
            _ => {}
        }
    };
    let head = &before[..open];
    let stmt_start = head.rfind([';', '}', '{']).map_or(0, |i| i + 1);
    let decl = head[stmt_start..].trim();
    let decl = decl.strip_suffix('=')?;
    let mut words = decl.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    words.find(|w| *w == "struct")?;
    words.find(|w| !w.is_empty()).map(str::to_string)
}

/// `callee(a, b, f` before `f`: the callee and the argument index.
fn enclosing_call(before: &str) -> Option<(String, usize)> {
    let b = before.as_bytes();
    let mut depth = 0i32;
    let mut commas = 0usize;
    let mut i = b.len();
    let open = loop {
        if i == 0 || b.len() - i > 400 {
            return None;
        }
        i -= 1;
        match b[i] {
            b')' | b']' | b'}' => depth += 1,
            b'(' if depth == 0 => break i,
            b'(' | b'[' => depth -= 1,
            b'{' if depth == 0 => return None,
            b'{' => depth -= 1,
            b';' if depth == 0 => return None,
            b',' if depth == 0 => commas += 1,
            _ => {}
        }
    };
    let head = before[..open].trim_end();
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let callee = &head[start..];
    (!callee.is_empty() && !callee.as_bytes()[0].is_ascii_digit())
        .then(|| (callee.to_string(), commas))
}

/// `struct T *` (or `const struct T *`, `struct T const *`) right before a
/// declared name: `T`.
fn declared_struct(before: &str) -> Option<&str> {
    let b = before
        .trim_end()
        .strip_suffix('*')?
        .trim_end_matches(['*', ' ', '\t', '\n']);
    let word = |b: &str| -> (usize, usize) {
        let end = b.len();
        let start = b
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        (start, end)
    };
    let (mut s, mut e) = word(b);
    let mut b = b;
    if &b[s..e] == "const" {
        b = b[..s].trim_end();
        (s, e) = word(b);
    }
    let t = &b[s..e];
    let rest = b[..s].trim_end();
    let (ks, ke) = word(rest);
    let kw = &rest[ks..ke];
    let (t, kw) = if t == "struct" {
        return None;
    } else if kw == "const" {
        let r2 = rest[..ks].trim_end();
        let (s2, e2) = word(r2);
        (t, &r2[s2..e2])
    } else {
        (t, kw)
    };
    (kw == "struct" && !t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_read_from_the_text() {
        let src = "static const struct file_operations xfs_file_operations = {\n\t.llseek = xfs_file_llseek,\n\t.write_iter\t= ";
        let (f, at) = assigned_field(src).unwrap();
        assert_eq!(f, "write_iter");
        assert_eq!(
            initializer_struct(&src[..at]).as_deref(),
            Some("file_operations")
        );
        assert_eq!(
            assigned_field("\tp->scan_objects = ").unwrap().0,
            "scan_objects"
        );
        assert_eq!(assigned_field("x = "), None);
        let (c, a) = enclosing_call("\tINIT_WORK(&mp->m_flush_inodes_work, ").unwrap();
        assert_eq!((c.as_str(), a), ("INIT_WORK", 1));
        assert_eq!(enclosing_call("\tfoo = "), None);
        // A nested initializer has no struct type of its own.
        assert_eq!(initializer_struct("struct s x = { .a = { .b = 1, "), None);
    }

    #[test]
    fn receiver_declarations() {
        // dir_emit(struct dir_context *ctx, ...) { ... ctx->actor(
        assert_eq!(
            declared_struct("bool dir_emit(struct dir_context *"),
            Some("dir_context")
        );
        assert_eq!(
            declared_struct("(const struct xfs_defer_op_type  *"),
            Some("xfs_defer_op_type")
        );
        assert_eq!(declared_struct("\tstruct foo const *"), Some("foo"));
        // Not a pointer to a struct: a typedef, a product, a value.
        assert_eq!(declared_struct("handle_t *"), None);
        assert_eq!(declared_struct("x = a *"), None);
        assert_eq!(declared_struct("struct foo "), None);
    }
}
