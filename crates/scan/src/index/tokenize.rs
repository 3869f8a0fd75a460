//! A light C tokenizer for the whole-tree index: one linear pass over a
//! file's bytes that skips comments, string and character literals and
//! preprocessor lines, tracks brace depth, and records what the index
//! needs. It never builds a syntax tree: tree-sitter runs later, on demand,
//! for the few functions the rules reach (parsing all of 6.1 takes ~50 s on
//! 2 cores; this pass reads it in about a second).

/// A top-level function definition.
#[derive(Clone, Debug)]
pub struct DefRec {
    pub name: String,
    /// Byte offset of the first line of the declaration (return type).
    pub decl_start: u32,
    /// After the body's closing `}`.
    pub body_end: u32,
    /// The parameter list with its parentheses, whitespace collapsed.
    pub params: String,
    /// What precedes the name (return type, storage class), collapsed.
    pub ret: String,
    /// A function-like `#define NAME(params) body`: its calls are the
    /// calls its users make (`ext4_journal_start` -> `__ext4_journal_start`).
    pub is_macro: bool,
}

/// What one file contributes to the index.
#[derive(Clone, Debug, Default)]
pub struct FileIndex {
    pub defs: Vec<DefRec>,
    /// Call sites inside function bodies: (callee name hash, byte offset, def index).
    pub calls: Vec<(u64, u32, u32)>,
    /// A function name used as a value (`.scan_objects = f`, `x->op = f`,
    /// `register(f)`, `&f`): (value hash, byte offset, 32-bit field hash
    /// or 0).
    pub refs: Vec<(u64, u32, u32)>,
    /// Object-like `#define NAME ...`: (name hash, byte offset of the name).
    pub defines: Vec<(u64, u32)>,
    /// Calls through a field, `x->field(...)` / `x.field(...)`: (32-bit
    /// field hash, byte offset of the field name, def index). Kept apart
    /// from `calls` so that `ops->write_iter()` is not a call of a
    /// function named `write_iter`.
    pub field_calls: Vec<(u32, u32, u32)>,
}

/// FNV-1a: a stable 64-bit name hash (collisions are checked against the
/// text when a hit is used).
pub fn hash(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Words followed by `(` that are not calls.
fn is_keyword(w: &[u8]) -> bool {
    matches!(
        w,
        b"if"
            | b"while"
            | b"for"
            | b"switch"
            | b"return"
            | b"sizeof"
            | b"typeof"
            | b"__typeof__"
            | b"_Generic"
            | b"__attribute__"
            | b"defined"
            | b"asm"
            | b"__asm__"
            | b"case"
            | b"do"
            | b"else"
            | b"goto"
            | b"NULL"
            | b"true"
            | b"false"
            | b"int"
            | b"void"
            | b"char"
            | b"long"
            | b"unsigned"
            | b"struct"
    )
}

/// Byte classes by table lookup: the tokenizer tests every byte of the
/// tree, and one load beats the range compares of `is_ascii_*`.
const IDENT: u8 = 1;
const IDENT_START: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = IDENT | IDENT_START;
        } else if b.is_ascii_digit() {
            t[c] = IDENT;
        }
        c += 1;
    }
    t
};

fn is_ident_start(c: u8) -> bool {
    CLASS[c as usize] & IDENT_START != 0
}
fn is_ident(c: u8) -> bool {
    CLASS[c as usize] & IDENT != 0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ident(u32, u32),
    Punct(u8, u32),
}

/// Tokenize `src` and record definitions, calls, references and defines.
pub fn index_file(src: &[u8]) -> FileIndex {
    // Records go to per-thread scratch vectors that keep their capacity
    // from file to file; the result is copied out at its exact size (the
    // whole-tree index holds 55,000 of these at once).
    thread_local! {
        static SCRATCH: std::cell::RefCell<FileIndex> = std::cell::RefCell::new(FileIndex::default());
    }
    SCRATCH.with_borrow_mut(|out| {
        out.defs.clear();
        out.calls.clear();
        out.refs.clear();
        out.defines.clear();
        out.field_calls.clear();
        index_into(src, out);
        FileIndex {
            defs: std::mem::take(&mut out.defs),
            calls: out.calls.as_slice().to_vec(),
            refs: out.refs.as_slice().to_vec(),
            defines: out.defines.as_slice().to_vec(),
            field_calls: out.field_calls.as_slice().to_vec(),
        }
    })
}

fn index_into(src: &[u8], out: &mut FileIndex) {
    let n = src.len();
    let mut i = 0usize;
    let mut depth = 0u32;
    let mut paren0 = 0u32;
    let mut line_start = true;
    // Signature being read at depth 0: (name start, name end, params open).
    let mut pending: Option<(u32, u32, u32)> = None;
    let mut params_closed: Option<u32> = None;
    let mut sig_start = 0usize;
    let mut cur_def: Option<u32> = None;
    // The last four tokens, newest last.
    let mut win: [Option<Tok>; 4] = [None; 4];
    // A plain shift: `rotate_left` is an out-of-line memmove per token.
    let push = |win: &mut [Option<Tok>; 4], t: Tok| {
        *win = [win[1], win[2], win[3], Some(t)];
    };
    while i < n {
        let c = src[i];
        match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' | b'\\' => {
                i += 1;
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                i = memchr::memmem::find(&src[i + 2..], b"*/").map_or(n, |j| i + 2 + j + 2);
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                i = memchr::memchr(b'\n', &src[i..]).map_or(n, |j| i + j);
                continue;
            }
            b'#' if line_start => {
                let end = directive_end(src, i);
                if let Some((h, off)) = object_define(src, i, end) {
                    out.defines.push((h, off as u32));
                } else {
                    function_define(out, src, i, end);
                }
                if depth == 0 {
                    sig_start = end;
                }
                i = end;
                continue;
            }
            b'"' | b'\'' => {
                i += 1;
                while i < n && src[i] != c && src[i] != b'\n' {
                    i += if src[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                line_start = false;
                push(&mut win, Tok::Punct(b'"', i as u32));
                continue;
            }
            _ => {}
        }
        line_start = false;
        if is_ident_start(c) {
            let start = i;
            while i < n && is_ident(src[i]) {
                i += 1;
            }
            let word = &src[start..i];
            let next = next_significant(src, i);
            let tok = Tok::Ident(start as u32, i as u32);
            if depth == 0 {
                if next == Some(b'(') && paren0 == 0 && params_closed.is_none() {
                    pending = Some((start as u32, i as u32, 0));
                }
            } else if !is_keyword(word) {
                if next == Some(b'(') {
                    if let Some(d) = cur_def {
                        if after_member_op(src, &win) {
                            out.field_calls.push((field_hash(word), start as u32, d));
                        } else {
                            out.calls.push((hash(word), start as u32, d));
                        }
                    }
                } else if matches!(next, Some(b',' | b')' | b';' | b'}'))
                    && word.iter().any(u8::is_ascii_lowercase)
                {
                    record_ref(out, src, &win, word, start);
                }
            }
            push(&mut win, tok);
            continue;
        }
        match c {
            b'{' => {
                if depth == 0
                    && let (Some((ns, ne, _)), Some(pc)) = (pending, params_closed)
                {
                    let name = String::from_utf8_lossy(&src[ns as usize..ne as usize]).into_owned();
                    let decl = line_begin(src, first_non_space(src, sig_start, ns as usize));
                    let params = collapse(&src[pending_open(src, ne as usize)..=pc as usize]);
                    let ret = collapse(&src[sig_start.min(ns as usize)..ns as usize]);
                    cur_def = Some(out.defs.len() as u32);
                    out.defs.push(DefRec {
                        name,
                        decl_start: decl as u32,
                        body_end: i as u32,
                        params,
                        ret,
                        is_macro: false,
                    });
                }
                pending = None;
                params_closed = None;
                depth += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some(d) = cur_def.take() {
                        out.defs[d as usize].body_end = (i + 1) as u32;
                    }
                    sig_start = i + 1;
                }
            }
            b'(' if depth == 0 => paren0 += 1,
            b')' if depth == 0 => {
                paren0 = paren0.saturating_sub(1);
                if paren0 == 0 && pending.is_some() && params_closed.is_none() {
                    params_closed = Some(i as u32);
                }
            }
            b';' | b'=' | b',' if depth == 0 && paren0 == 0 => {
                pending = None;
                params_closed = None;
                if c == b';' {
                    sig_start = i + 1;
                }
            }
            _ => {}
        }
        push(&mut win, Tok::Punct(c, i as u32));
        i += 1;
    }
    // A file cut off inside a body: the definition ends at the end of file.
    if let Some(d) = cur_def {
        out.defs[d as usize].body_end = n as u32;
    }
}

/// `.field = f`, `x->field = f`, `(f,`, `, f)`, `= f;`, `&f`: a value
/// use. The field is recorded when the use is a designated initializer or
/// a field assignment (`ops tables`), 0 otherwise.
fn record_ref(out: &mut FileIndex, src: &[u8], win: &[Option<Tok>; 4], word: &[u8], start: usize) {
    let prev = win[3];
    let value_pos = matches!(prev, Some(Tok::Punct(b'(' | b',' | b'=' | b'&', _)));
    if !value_pos {
        return;
    }
    let mut field = 0u32;
    if let (Some(Tok::Punct(b'=', _)), Some(Tok::Ident(fs, fe))) = (win[3], win[2]) {
        let arrow = matches!(win[1], Some(Tok::Punct(b'.', _)))
            || matches!(win[1], Some(Tok::Punct(b'>', p)) if p > 0 && src[p as usize - 1] == b'-');
        if arrow {
            field = field_hash(&src[fs as usize..fe as usize]);
        }
    }
    out.refs.push((hash(word), start as u32, field));
}

/// The previous token is `.` or `->`: the word is a field.
fn after_member_op(src: &[u8], win: &[Option<Tok>; 4]) -> bool {
    match win[3] {
        Some(Tok::Punct(b'.', _)) => true,
        Some(Tok::Punct(b'>', p)) => p > 0 && src[p as usize - 1] == b'-',
        _ => false,
    }
}

/// `# define NAME(params) body`: a definition whose body's calls (direct
/// and through fields) are recorded like a function's. Calls of a
/// parameter (`#define CALL(f, x) f(x)`) and pasted names (`a##b(`) are
/// not calls of a known name and are skipped.
fn function_define(out: &mut FileIndex, src: &[u8], start: usize, end: usize) {
    let line = &src[start + 1..end];
    let mut j = 0;
    while j < line.len() && matches!(line[j], b' ' | b'\t') {
        j += 1;
    }
    let Some(rest) = line.get(j..).and_then(|r| r.strip_prefix(b"define")) else {
        return;
    };
    let base = start + 1 + j + 6;
    let mut k = 0;
    while k < rest.len() && matches!(rest[k], b' ' | b'\t') {
        k += 1;
    }
    let ns = k;
    while k < rest.len() && is_ident(rest[k]) {
        k += 1;
    }
    if k == ns || rest.get(k) != Some(&b'(') {
        return;
    }
    let Some(close) = memchr::memchr(b')', &rest[k..]).map(|c| k + c) else {
        return;
    };
    let params_text = &rest[k..=close];
    let params: Vec<&[u8]> = params_text[1..params_text.len() - 1]
        .split(|&c| c == b',')
        .map(|p| p.trim_ascii())
        .collect();
    let d = out.defs.len() as u32;
    out.defs.push(DefRec {
        name: String::from_utf8_lossy(&rest[ns..k]).into_owned(),
        decl_start: start as u32,
        body_end: end as u32,
        params: collapse(params_text),
        ret: String::new(),
        is_macro: true,
    });
    let body = &rest[close + 1..];
    let body_base = base + close + 1;
    let mut i = 0;
    let mut prev: Option<(u8, usize)> = None;
    while i < body.len() {
        let c = body[i];
        if c == b'"' || c == b'\'' {
            i += 1;
            while i < body.len() && body[i] != c {
                i += if body[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            prev = Some((b'"', i));
            continue;
        }
        if is_ident_start(c) {
            let s0 = i;
            while i < body.len() && is_ident(body[i]) {
                i += 1;
            }
            let word = &body[s0..i];
            let pasted = body[..s0].trim_ascii_end().ends_with(b"##")
                || body[i..].trim_ascii_start().starts_with(b"##");
            let next = next_significant(body, i);
            if next == Some(b'(') && !pasted && !is_keyword(word) && !params.contains(&word) {
                let member = match prev {
                    Some((b'.', _)) => true,
                    Some((b'>', p)) => p > 0 && body[p - 1] == b'-',
                    _ => false,
                };
                let off = (body_base + s0) as u32;
                if member {
                    out.field_calls.push((field_hash(word), off, d));
                } else {
                    out.calls.push((hash(word), off, d));
                }
            }
            prev = Some((b'a', s0));
            continue;
        }
        if !matches!(c, b' ' | b'\t' | b'\\' | b'\n' | b'\r') {
            prev = Some((c, i));
        }
        i += 1;
    }
}

/// A field name's hash, 32 bits (0 is "no field").
pub fn field_hash(name: &[u8]) -> u32 {
    (hash(name) as u32).max(1)
}

fn pending_open(src: &[u8], name_end: usize) -> usize {
    memchr::memchr(b'(', &src[name_end..]).map_or(name_end, |j| name_end + j)
}

fn next_significant(src: &[u8], mut i: usize) -> Option<u8> {
    while i < src.len() && matches!(src[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    src.get(i).copied()
}

fn first_non_space(src: &[u8], from: usize, limit: usize) -> usize {
    let mut i = from.min(limit);
    while i < limit && src[i].is_ascii_whitespace() {
        i += 1;
    }
    // Comments between declarations: start at the line of the name's declaration.
    if let Some(j) = memchr::memmem::rfind(&src[i..limit], b"*/") {
        i += j + 2;
        while i < limit && src[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    i
}

fn line_begin(src: &[u8], i: usize) -> usize {
    memchr::memrchr(b'\n', &src[..i]).map_or(0, |j| j + 1)
}

fn directive_end(src: &[u8], mut i: usize) -> usize {
    loop {
        let eol = memchr::memchr(b'\n', &src[i..]).map_or(src.len(), |j| i + j);
        let mut k = eol;
        while k > i && matches!(src[k - 1], b'\r' | b' ' | b'\t') {
            k -= 1;
        }
        if k > i && src[k - 1] == b'\\' && eol < src.len() {
            i = eol + 1;
            continue;
        }
        return eol;
    }
}

/// `# define NAME body` with no `(` right after the name.
fn object_define(src: &[u8], start: usize, end: usize) -> Option<(u64, usize)> {
    let line = &src[start + 1..end];
    let mut j = 0;
    while j < line.len() && matches!(line[j], b' ' | b'\t') {
        j += 1;
    }
    let rest = line.get(j..)?.strip_prefix(b"define")?;
    let mut k = 0;
    while k < rest.len() && matches!(rest[k], b' ' | b'\t') {
        k += 1;
    }
    let ns = k;
    while k < rest.len() && is_ident(rest[k]) {
        k += 1;
    }
    if k == ns || rest.get(k) == Some(&b'(') {
        return None;
    }
    let off = start + 1 + j + 6 + ns;
    Some((hash(&rest[ns..k]), off))
}

fn collapse(b: &[u8]) -> String {
    crate::syntax::collapse_ws(&String::from_utf8_lossy(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_calls_and_registrations() {
        let src = b"#define X_GFP (GFP_KERNEL)\n#define F(a) a\nstatic unsigned long\nfoo_scan(struct shrinker *s, struct shrink_control *sc)\n{\n\tif (bar(1))\n\t\treturn baz(sc, f2);\n\t/* x( */ return 0;\n}\nstatic struct shrinker s = {\n\t.scan_objects = foo_scan,\n};\nint g(void);\nint h(int a) __acquires(x)\n{\n\tp->scan_objects = foo_scan;\n}\n";
        let f = index_file(src);
        let names: Vec<_> = f
            .defs
            .iter()
            .filter(|d| !d.is_macro)
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["foo_scan", "h"]);
        assert!(f.defs[0].is_macro && f.defs[0].name == "F");
        let f = FileIndex {
            defs: f.defs.into_iter().filter(|d| !d.is_macro).collect(),
            ..f
        };
        assert_eq!(f.defs[0].ret, "static unsigned long");
        assert_eq!(
            f.defs[0].params,
            "(struct shrinker *s, struct shrink_control *sc)"
        );
        assert_eq!(&src[f.defs[0].decl_start as usize..][..6], b"static");
        let calls: Vec<u64> = f.calls.iter().map(|c| c.0).collect();
        assert_eq!(calls, [hash(b"bar"), hash(b"baz")]);
        let regs: Vec<_> = f
            .refs
            .iter()
            .filter(|r| r.2 == field_hash(b"scan_objects"))
            .map(|r| r.0)
            .collect();
        assert_eq!(regs, [hash(b"foo_scan"), hash(b"foo_scan")]);
        assert!(f.refs.iter().any(|r| r.2 == 0 && r.0 == hash(b"f2")));
        assert_eq!(f.defines.len(), 1);
        assert_eq!(f.defines[0].0, hash(b"X_GFP"));
    }

    #[test]
    fn macro_bodies_and_field_calls() {
        // fd_dma_mem_alloc (arch/x86/include/asm/floppy.h) expands to a
        // call through the fd_routine table; a parameter called as a
        // function and a pasted name are not calls of a known name.
        let src = b"#define fd_dma_mem_alloc(size)\tSW._dma_mem_alloc(size)\n#define J(h, t) \\\n\t__j_start(h, \\\n\t\tt)\n#define CALL(fn, x) fn(x) + x##_op(1)\nint f(struct o *o)\n{\n\treturn o->ops->write_iter(o) + g(o);\n}\n";
        let f = index_file(src);
        let macros: Vec<_> = f
            .defs
            .iter()
            .filter(|d| d.is_macro)
            .map(|d| (d.name.as_str(), d.params.as_str()))
            .collect();
        assert_eq!(
            macros,
            [
                ("fd_dma_mem_alloc", "(size)"),
                ("J", "(h, t)"),
                ("CALL", "(fn, x)")
            ]
        );
        let calls: Vec<(u64, u32)> = f.calls.iter().map(|c| (c.0, c.2)).collect();
        assert_eq!(calls, [(hash(b"__j_start"), 1), (hash(b"g"), 3)]);
        let fields: Vec<(u32, u32)> = f.field_calls.iter().map(|c| (c.0, c.2)).collect();
        assert_eq!(
            fields,
            [
                (field_hash(b"_dma_mem_alloc"), 0),
                (field_hash(b"write_iter"), 3)
            ]
        );
        let off = f.field_calls[0].1 as usize;
        assert!(src[off..].starts_with(b"_dma_mem_alloc"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for src in [
            &b""[..],
            b"#",
            b"#define",
            b"#define X(",
            b"int f(",
            b"int f() {",
            b"}}}} int f(a) { \"",
            b"'",
            b"/* unterminated",
            b"f(x) { g(",
            b"a(b)(c) { .x = y, } ; = ,",
            b"\xff\xfe(){}",
        ] {
            let _ = index_file(src);
        }
    }
}
