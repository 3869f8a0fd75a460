//! Task programs: one statement per string, e.g. `lock a.journal`,
//! `alloc gfp=GFP_NOFS pages=1`, `repeat 3 {` ... `}`.

use crate::scenario::{Errs, Scenario, ScenarioError, parse_gfp, string_body_offset};
use crate::world::REP_SLOTS;
use reclaimscope_model::Gfp;
use reclaimscope_model::task::Scope;
use std::ops::Range;
use toml::Spanned;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    Lock(usize),
    Unlock(usize),
    /// `kmalloc`/`alloc_pages` of `pages` pages.
    Alloc {
        gfp: Gfp,
        pages: u8,
        order: u8,
    },
    /// `__vmalloc(size, gfp)`: data pages with `gfp`, then a page table page.
    Vmalloc {
        gfp: Gfp,
        pages: u8,
    },
    /// `kfree`: give back pages this task allocated.
    Free {
        pages: u8,
    },
    Scope(Scope),
    End,
    /// A buffered write: the fs's write locks, page cache, dirty pages.
    Write {
        fs: usize,
        pages: u8,
    },
    /// Write back the fs's dirty pages and wait.
    Fsync {
        fs: usize,
    },
    /// A buffered read: page cache pages filled by a read bio.
    Read {
        fs: usize,
        pages: u8,
    },
    /// `dm_bufio_read` of `blocks` blocks through a dm-bufio client.
    BufioRead {
        bufio: usize,
        blocks: u8,
    },
    /// `prctl(PR_SET_IO_FLUSHER, 1)`.
    PrctlIoFlusher,
    /// A daemon handler's pwrite of the request's pages to its backing file.
    Pwrite,
    /// A daemon handler's `sendmsg` to its peer: the kernel allocates the
    /// skbs with `sk->sk_allocation` (GFP_KERNEL) and no fs context
    /// (`tcp_sendmsg_locked`); they are freed when the peer acknowledges.
    Send {
        pages: u8,
    },
    Repeat {
        n: u8,
        body: Vec<Stmt>,
    },
}

/// The program calls `prctl(PR_SET_IO_FLUSHER)` somewhere.
pub fn calls_prctl_io_flusher(prog: &[Stmt]) -> bool {
    prog.iter().any(|s| match s {
        Stmt::PrctlIoFlusher => true,
        Stmt::Repeat { body, .. } => calls_prctl_io_flusher(body),
        _ => false,
    })
}

/// How deep `repeat` blocks nest in `prog` (0: none).
pub fn repeat_depth(prog: &[Stmt]) -> usize {
    prog.iter()
        .map(|s| match s {
            Stmt::Repeat { body, .. } => 1 + repeat_depth(body),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

type Lookup<'a> = dyn Fn(&str, Range<usize>, &[&'static str]) -> Result<(&'static str, usize), ScenarioError>
    + 'a;

struct Line<'a> {
    text: &'a str,
    /// Byte offset of `text` in the file, when exact.
    base: Option<usize>,
    span: Range<usize>,
}

impl Line<'_> {
    fn at(&self, r: Range<usize>) -> Range<usize> {
        match self.base {
            Some(b) => b + r.start..b + r.end,
            None => self.span.clone(),
        }
    }
}

/// Whitespace-separated tokens with their byte ranges in the line.
fn tokens(s: &str) -> Vec<(&str, Range<usize>)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                out.push((&s[st..i], st..i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        out.push((&s[st..], st..s.len()));
    }
    out
}

pub(crate) fn parse(
    t: &crate::scenario::RawTaskView,
    e: &Errs,
    lookup: &Lookup,
    sc: &Scenario,
) -> Result<Vec<Stmt>, ScenarioError> {
    let lines: Vec<Line> = t
        .program
        .iter()
        .map(|s: &Spanned<String>| Line {
            text: s.get_ref().as_str(),
            base: string_body_offset(e.src, &s.span(), s.get_ref()),
            span: s.span(),
        })
        .collect();
    let mut pos = 0;
    let mut held: Vec<usize> = Vec::new();
    let mut scopes = 0usize;
    let prog = block(
        &lines,
        &mut pos,
        e,
        lookup,
        sc,
        &mut held,
        &mut scopes,
        None,
        0,
        t.serve,
    )?;
    if let Some(&l) = held.last() {
        return Err(e.at(
            t.name_span.clone(),
            format!("task `{}` ends holding `{}`", t.name, sc.locks[l]),
        ));
    }
    if scopes > 0 {
        return Err(e.at(
            t.name_span.clone(),
            format!("task `{}` ends inside a scope: missing `end`", t.name),
        ));
    }
    if prog.is_empty() {
        return Err(e.at(t.program_span.clone(), "empty program"));
    }
    Ok(prog)
}

#[allow(clippy::too_many_arguments)]
fn block(
    lines: &[Line],
    pos: &mut usize,
    e: &Errs,
    lookup: &Lookup,
    sc: &Scenario,
    held: &mut Vec<usize>,
    scopes: &mut usize,
    open: Option<&Line>,
    depth: usize,
    serve: Option<bool>,
) -> Result<Vec<Stmt>, ScenarioError> {
    let mut out = Vec::new();
    while *pos < lines.len() {
        let line = &lines[*pos];
        *pos += 1;
        let toks = tokens(line.text);
        let Some(&(word, ref wr)) = toks.first() else {
            return Err(e.at(line.span.clone(), "empty statement"));
        };
        let arg = |i: usize, what: &str| -> Result<(&str, Range<usize>), ScenarioError> {
            toks.get(i)
                .map(|(s, r)| (*s, r.clone()))
                .ok_or_else(|| e.at(line.at(wr.clone()), format!("`{word}` needs {what}")))
        };
        let extra = |n: usize| -> Result<(), ScenarioError> {
            match toks.get(n) {
                Some((s, r)) => Err(e.at(
                    line.at(r.clone()),
                    format!("unexpected `{s}` after `{word}`"),
                )),
                None => Ok(()),
            }
        };
        let stmt = match word {
            "lock" | "unlock" => {
                let (name, r) = arg(1, "a lock name")?;
                extra(2)?;
                let (_, l) = lookup(name, line.at(r.clone()), &["lock"])?;
                if word == "lock" {
                    if held.contains(&l) {
                        return Err(
                            e.at(line.at(r), format!("`{name}` is already held by this task"))
                        );
                    }
                    held.push(l);
                    Stmt::Lock(l)
                } else {
                    let Some(i) = held.iter().rposition(|&h| h == l) else {
                        return Err(e.at(
                            line.at(r),
                            format!("`unlock {name}`: this task does not hold `{name}`"),
                        ));
                    };
                    held.remove(i);
                    Stmt::Unlock(l)
                }
            }
            "alloc" | "vmalloc" => {
                let kv = key_values(line, &toks[1..], e, &["gfp", "pages", "order"])?;
                let gfp_v = kv
                    .iter()
                    .find(|k| k.0 == "gfp")
                    .ok_or_else(|| e.at(line.at(wr.clone()), format!("`{word}` needs gfp=...")))?;
                let gfp = parse_gfp(&gfp_v.1).map_err(|(s, m)| {
                    e.at(line.at(gfp_v.2.start + s.start..gfp_v.2.start + s.end), m)
                })?;
                let pages = num_kv(line, &kv, "pages", 1, 1, 64, e)?;
                let order = num_kv(line, &kv, "order", 0, 0, 10, e)?;
                if word == "alloc" {
                    Stmt::Alloc { gfp, pages, order }
                } else {
                    if kv.iter().any(|k| k.0 == "order") {
                        return Err(e.at(line.at(wr.clone()), "`vmalloc` takes no order"));
                    }
                    Stmt::Vmalloc { gfp, pages }
                }
            }
            "free" => {
                let kv = key_values(line, &toks[1..], e, &["pages"])?;
                Stmt::Free {
                    pages: num_kv(line, &kv, "pages", 1, 1, 64, e)?,
                }
            }
            "scope" => {
                let (s, r) = arg(1, "nofs or noio")?;
                extra(2)?;
                let scope = match s {
                    "nofs" => Scope::Nofs,
                    "noio" => Scope::Noio,
                    _ => {
                        return Err(e.at(
                            line.at(r),
                            format!("unknown scope `{s}`; known: nofs, noio"),
                        ));
                    }
                };
                *scopes += 1;
                if *scopes > 3 {
                    return Err(e.at(line.at(wr.clone()), "scopes nest at most 3 deep"));
                }
                Stmt::Scope(scope)
            }
            "end" => {
                extra(1)?;
                if *scopes == 0 {
                    return Err(e.at(line.at(wr.clone()), "`end` without an open `scope`"));
                }
                *scopes -= 1;
                Stmt::End
            }
            "write" | "read" => {
                let (target, r) = arg(1, "FS[:FILE] or a dm-bufio client")?;
                let name = target.split(':').next().unwrap_or(target);
                let (kind, idx) =
                    lookup(name, line.at(r.clone()), &["filesystem", "bufio client"])?;
                if kind == "bufio client" {
                    if word == "write" {
                        return Err(e.at(
                            line.at(r),
                            "writes through dm-bufio are not modelled; use `read`",
                        ));
                    }
                    let kv = key_values(line, &toks[2..], e, &["blocks"])?;
                    Stmt::BufioRead {
                        bufio: idx,
                        blocks: num_kv(line, &kv, "blocks", 1, 1, 8, e)?,
                    }
                } else {
                    let kv = key_values(line, &toks[2..], e, &["pages"])?;
                    let pages = num_kv(line, &kv, "pages", 1, 1, 64, e)?;
                    if word == "write" {
                        for &l in &sc.fss[idx].write_locks {
                            if held.contains(&l) {
                                return Err(e.at(
                                    line.at(r.clone()),
                                    format!(
                                        "`write {name}` takes `{}`, which this task already holds",
                                        sc.locks[l]
                                    ),
                                ));
                            }
                        }
                        Stmt::Write { fs: idx, pages }
                    } else {
                        Stmt::Read { fs: idx, pages }
                    }
                }
            }
            "fsync" => {
                let (target, r) = arg(1, "a filesystem")?;
                extra(2)?;
                let name = target.split(':').next().unwrap_or(target);
                let (_, fs) = lookup(name, line.at(r), &["filesystem"])?;
                Stmt::Fsync { fs }
            }
            "pwrite" | "send" if serve.is_none() => {
                return Err(e.at(
                    line.at(wr.clone()),
                    format!("`{word}` is a daemon's `serve` statement, not a task's"),
                ));
            }
            "pwrite" => {
                extra(1)?;
                if serve != Some(true) {
                    return Err(e.at(
                        line.at(wr.clone()),
                        "`pwrite` needs a backing `file` (this daemon's transport is a socket)",
                    ));
                }
                Stmt::Pwrite
            }
            "send" => {
                let kv = key_values(line, &toks[1..], e, &["pages"])?;
                Stmt::Send {
                    pages: num_kv(line, &kv, "pages", 1, 1, 64, e)?,
                }
            }
            "prctl" => {
                let (s, r) = arg(1, "io-flusher")?;
                extra(2)?;
                if s != "io-flusher" {
                    return Err(e.at(
                        line.at(r),
                        format!("unknown prctl `{s}`; known: io-flusher"),
                    ));
                }
                Stmt::PrctlIoFlusher
            }
            "repeat" => {
                let (n, r) = arg(1, "a count")?;
                let count = n
                    .parse::<u8>()
                    .ok()
                    .filter(|v| (1..=100).contains(v))
                    .ok_or_else(|| e.at(line.at(r.clone()), "repeat count must be 1..=100"))?;
                match toks.get(2) {
                    Some(("{", _)) => extra(3)?,
                    Some((s, r2)) => {
                        return Err(e.at(
                            line.at(r2.clone()),
                            format!("expected `{{` after the repeat count, found `{s}`"),
                        ));
                    }
                    None => return Err(e.at(line.at(r), "expected `{` after the repeat count")),
                }
                if depth + 1 > REP_SLOTS {
                    return Err(e.at(
                        line.at(wr.clone()),
                        format!("`repeat` nests at most {REP_SLOTS} deep"),
                    ));
                }
                let before = held.clone();
                let scopes_before = *scopes;
                let body = block(
                    lines,
                    pos,
                    e,
                    lookup,
                    sc,
                    held,
                    scopes,
                    Some(line),
                    depth + 1,
                    serve,
                )?;
                if *held != before || *scopes != scopes_before {
                    return Err(e.at(line.at(wr.clone()), "a repeat body must release every lock it takes and close every scope it opens"));
                }
                if body.is_empty() {
                    return Err(e.at(line.at(wr.clone()), "empty repeat body"));
                }
                Stmt::Repeat { n: count, body }
            }
            "}" => {
                extra(1)?;
                if open.is_none() {
                    return Err(e.at(line.at(wr.clone()), "`}` without an open `repeat`"));
                }
                return Ok(out);
            }
            other => {
                return Err(e.at(
                    line.at(wr.clone()),
                    format!("unknown statement `{other}`; known: lock, unlock, alloc, vmalloc, free, scope, end, write, read, fsync, prctl, repeat{}", if serve.is_some() { ", pwrite, send" } else { "" }),
                ));
            }
        };
        out.push(stmt);
    }
    if let Some(l) = open {
        return Err(e.at(l.span.clone(), "`repeat` without a closing `}`"));
    }
    Ok(out)
}

/// `key=value` arguments; a `gfp=` value runs until the next `key=` token
/// so `gfp=GFP_NOIO | __GFP_NORETRY pages=1` reads naturally. Values are
/// kept as ranges while scanning and copied once at the end, so a long
/// `gfp=` expression costs time linear in its length.
fn key_values(
    line: &Line,
    toks: &[(&str, Range<usize>)],
    e: &Errs,
    keys: &[&str],
) -> Result<Vec<(String, String, Range<usize>)>, ScenarioError> {
    let mut out: Vec<(&str, Range<usize>)> = Vec::new();
    for (tok, r) in toks {
        if let Some((k, _)) = tok.split_once('=') {
            if !keys.contains(&k) {
                return Err(e.at(
                    line.at(r.clone()),
                    format!("unknown argument `{k}`; known: {}", keys.join(", ")),
                ));
            }
            if out.iter().any(|o| o.0 == k) {
                return Err(e.at(line.at(r.clone()), format!("`{k}` given twice")));
            }
            let vstart = r.start + k.len() + 1;
            out.push((k, vstart..r.end));
        } else if let Some(last) = out.last_mut().filter(|o| o.0 == "gfp") {
            last.1.end = r.end;
        } else {
            return Err(e.at(
                line.at(r.clone()),
                format!("expected key=value, found `{tok}`"),
            ));
        }
    }
    Ok(out
        .into_iter()
        .map(|(k, r)| (k.to_string(), line.text[r.clone()].to_string(), r))
        .collect())
}

fn num_kv(
    line: &Line,
    kv: &[(String, String, Range<usize>)],
    key: &str,
    default: u8,
    min: u8,
    max: u8,
    e: &Errs,
) -> Result<u8, ScenarioError> {
    match kv.iter().find(|k| k.0 == key) {
        None => Ok(default),
        Some((_, v, r)) => v
            .parse::<u8>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                e.at(
                    line.at(r.clone()),
                    format!("`{key}` must be a number in {min}..={max}"),
                )
            }),
    }
}
