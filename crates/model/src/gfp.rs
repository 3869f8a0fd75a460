//! gfp masks: every `__GFP_*` bit and composite of `include/linux/gfp_types.h`,
//! parsed from and printed as kernel C expressions.
//!
//! Bit values follow the fixed part of the current kernel enum. The
//! config-dependent tail bits (`__GFP_SKIP_ZERO` onward) move with the kernel
//! config; we give them fixed positions above the fixed part so a mask is
//! always one `u32`. `__GFP_ATOMIC` (0x200) was removed in v6.3 but is still
//! in older trees the scanner reads, so it is kept as a historical bit.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{BitAnd, BitOr, BitXor, Not, Range};

/// A gfp mask (`gfp_t`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Gfp(pub u32);

macro_rules! bits {
    ($($name:ident = $val:expr, $cname:literal;)*) => {
        impl Gfp {
            $(#[doc = concat!("`", $cname, "`")] pub const $name: Gfp = Gfp($val);)*
        }
        /// Single bits, lowest first, with their kernel names.
        pub const BITS: &[(&str, Gfp)] = &[$(($cname, Gfp($val)),)*];
    };
}

bits! {
    DMA = 0x01, "__GFP_DMA";
    HIGHMEM = 0x02, "__GFP_HIGHMEM";
    DMA32 = 0x04, "__GFP_DMA32";
    MOVABLE = 0x08, "__GFP_MOVABLE";
    RECLAIMABLE = 0x10, "__GFP_RECLAIMABLE";
    HIGH = 0x20, "__GFP_HIGH";
    IO = 0x40, "__GFP_IO";
    FS = 0x80, "__GFP_FS";
    ZERO = 0x100, "__GFP_ZERO";
    ATOMIC = 0x200, "__GFP_ATOMIC";
    DIRECT_RECLAIM = 0x400, "__GFP_DIRECT_RECLAIM";
    KSWAPD_RECLAIM = 0x800, "__GFP_KSWAPD_RECLAIM";
    WRITE = 0x1000, "__GFP_WRITE";
    NOWARN = 0x2000, "__GFP_NOWARN";
    RETRY_MAYFAIL = 0x4000, "__GFP_RETRY_MAYFAIL";
    NOFAIL = 0x8000, "__GFP_NOFAIL";
    NORETRY = 0x10000, "__GFP_NORETRY";
    MEMALLOC = 0x20000, "__GFP_MEMALLOC";
    COMP = 0x40000, "__GFP_COMP";
    NOMEMALLOC = 0x80000, "__GFP_NOMEMALLOC";
    HARDWALL = 0x100000, "__GFP_HARDWALL";
    THISNODE = 0x200000, "__GFP_THISNODE";
    ACCOUNT = 0x400000, "__GFP_ACCOUNT";
    ZEROTAGS = 0x800000, "__GFP_ZEROTAGS";
    SKIP_ZERO = 0x1000000, "__GFP_SKIP_ZERO";
    SKIP_KASAN = 0x2000000, "__GFP_SKIP_KASAN";
    NOLOCKDEP = 0x4000000, "__GFP_NOLOCKDEP";
    NO_OBJ_EXT = 0x8000000, "__GFP_NO_OBJ_EXT";
}

impl Gfp {
    pub const EMPTY: Gfp = Gfp(0);
    /// `__GFP_RECLAIM`: both reclaim bits (replaced `__GFP_WAIT` in v4.4).
    pub const RECLAIM: Gfp = Gfp(0x400 | 0x800);
    pub const KERNEL: Gfp = Gfp(Self::RECLAIM.0 | Self::IO.0 | Self::FS.0);
    pub const KERNEL_ACCOUNT: Gfp = Gfp(Self::KERNEL.0 | Self::ACCOUNT.0);
    pub const NOFS: Gfp = Gfp(Self::RECLAIM.0 | Self::IO.0);
    pub const NOIO: Gfp = Self::RECLAIM;
    /// `GFP_NOWAIT` includes `__GFP_NOWARN` since v6.17 (16f5dfbc851b).
    pub const NOWAIT: Gfp = Gfp(Self::KSWAPD_RECLAIM.0 | Self::NOWARN.0);
    /// `GFP_ATOMIC` (current form, without the historical `__GFP_ATOMIC`).
    pub const ATOMIC_MASK: Gfp = Gfp(Self::HIGH.0 | Self::KSWAPD_RECLAIM.0);
    pub const USER: Gfp = Gfp(Self::KERNEL.0 | Self::HARDWALL.0);
    pub const HIGHUSER: Gfp = Gfp(Self::USER.0 | Self::HIGHMEM.0);
    pub const HIGHUSER_MOVABLE: Gfp = Gfp(Self::HIGHUSER.0 | Self::MOVABLE.0 | Self::SKIP_KASAN.0);
    pub const TRANSHUGE_LIGHT: Gfp = Gfp((Self::HIGHUSER_MOVABLE.0
        | Self::COMP.0
        | Self::NOMEMALLOC.0
        | Self::NOWARN.0)
        & !Self::RECLAIM.0);
    pub const TRANSHUGE: Gfp = Gfp(Self::TRANSHUGE_LIGHT.0 | Self::DIRECT_RECLAIM.0);
    pub const DMA_MASK: Gfp = Self::DMA;
    pub const DMA32_MASK: Gfp = Self::DMA32;
    /// `mm/internal.h: GFP_RECLAIM_MASK`: what nested allocators pass on.
    pub const RECLAIM_MASK: Gfp = Gfp(Self::RECLAIM.0
        | Self::HIGH.0
        | Self::IO.0
        | Self::FS.0
        | Self::NOWARN.0
        | Self::RETRY_MAYFAIL.0
        | Self::NOFAIL.0
        | Self::NORETRY.0
        | Self::MEMALLOC.0
        | Self::NOMEMALLOC.0
        | Self::NOLOCKDEP.0);
    /// Every bit this model knows.
    pub const ALL: Gfp = Gfp(0x0fff_ffff);

    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn contains(self, other: Gfp) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn intersects(self, other: Gfp) -> bool {
        self.0 & other.0 != 0
    }
    pub const fn union(self, other: Gfp) -> Gfp {
        Gfp(self.0 | other.0)
    }
    pub const fn difference(self, other: Gfp) -> Gfp {
        Gfp(self.0 & !other.0)
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Look a kernel name up: single bits, composites, helper masks.
    pub fn lookup(name: &str) -> Option<Gfp> {
        names().find(|(n, _)| *n == name).map(|(_, g)| g)
    }

    /// The names of the single bits set, lowest first.
    pub fn bit_names(self) -> impl Iterator<Item = &'static str> {
        BITS.iter()
            .filter(move |(_, b)| self.contains(*b))
            .map(|(n, _)| *n)
    }

    /// Bits set that this model has no name for.
    pub fn unnamed_bits(self) -> Gfp {
        Gfp(self.0 & !Self::ALL.0)
    }
}

/// Composite masks, in the order the canonical printer prefers them.
pub const COMPOSITES: &[(&str, Gfp)] = &[
    ("GFP_TRANSHUGE", Gfp::TRANSHUGE),
    ("GFP_TRANSHUGE_LIGHT", Gfp::TRANSHUGE_LIGHT),
    ("GFP_HIGHUSER_MOVABLE", Gfp::HIGHUSER_MOVABLE),
    ("GFP_HIGHUSER", Gfp::HIGHUSER),
    ("GFP_USER", Gfp::USER),
    ("GFP_KERNEL_ACCOUNT", Gfp::KERNEL_ACCOUNT),
    ("GFP_KERNEL", Gfp::KERNEL),
    ("GFP_NOFS", Gfp::NOFS),
    ("GFP_NOIO", Gfp::NOIO),
    ("GFP_ATOMIC", Gfp::ATOMIC_MASK),
    ("GFP_NOWAIT", Gfp::NOWAIT),
];

/// Names accepted by the parser but never printed (aliases and helper masks).
const OTHER_NAMES: &[(&str, Gfp)] = &[
    ("__GFP_RECLAIM", Gfp::RECLAIM),
    ("GFP_DMA", Gfp::DMA_MASK),
    ("GFP_DMA32", Gfp::DMA32_MASK),
    ("GFP_RECLAIM_MASK", Gfp::RECLAIM_MASK),
];

/// Every name the model knows, bits first.
pub fn names() -> impl Iterator<Item = (&'static str, Gfp)> {
    BITS.iter().chain(COMPOSITES).chain(OTHER_NAMES).copied()
}

impl BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 | rhs.0)
    }
}
impl BitAnd for Gfp {
    type Output = Gfp;
    fn bitand(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 & rhs.0)
    }
}
impl BitXor for Gfp {
    type Output = Gfp;
    fn bitxor(self, rhs: Gfp) -> Gfp {
        Gfp(self.0 ^ rhs.0)
    }
}
impl Not for Gfp {
    type Output = Gfp;
    fn not(self) -> Gfp {
        Gfp(!self.0)
    }
}

impl fmt::Debug for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gfp({self})")
    }
}

/// Canonical kernel form: the largest composite contained in the mask (ties
/// broken by [`COMPOSITES`] order), then the remaining single bits, lowest
/// first. `0` for the empty mask; unnamed bits print as hex.
impl fmt::Display for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let mut parts: Vec<String> = Vec::new();
        let mut rest = *self;
        let best = COMPOSITES
            .iter()
            .filter(|(_, c)| self.contains(*c))
            .max_by_key(|(_, c)| (c.0.count_ones(), std::cmp::Reverse(rank(*c))));
        if let Some((name, c)) = best {
            parts.push((*name).to_string());
            rest = rest.difference(*c);
        }
        parts.extend(rest.bit_names().map(str::to_string));
        if rest.unnamed_bits().0 != 0 {
            parts.push(format!("{:#x}", rest.unnamed_bits().0));
        }
        f.write_str(&parts.join(" | "))
    }
}

fn rank(c: Gfp) -> usize {
    COMPOSITES
        .iter()
        .position(|(_, g)| *g == c)
        .unwrap_or(usize::MAX)
}

/// The value of a gfp expression whose parts may be unknown (a variable the
/// caller passed in, say): `must` holds the bits surely set, `may` the bits
/// possibly set. A fully known mask has `must == may`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct GfpValue {
    pub must: Gfp,
    pub may: Gfp,
}

impl GfpValue {
    pub const UNKNOWN: GfpValue = GfpValue {
        must: Gfp::EMPTY,
        may: Gfp::ALL,
    };
    pub const fn exact(g: Gfp) -> GfpValue {
        GfpValue { must: g, may: g }
    }
    /// The mask, if every bit is known.
    pub fn is_exact(self) -> Option<Gfp> {
        (self.must == self.may).then_some(self.must)
    }
    /// Every bit of `bits` is surely set.
    pub fn surely(self, bits: Gfp) -> bool {
        self.must.contains(bits)
    }
    /// No bit of `bits` can be set.
    pub fn surely_not(self, bits: Gfp) -> bool {
        !self.may.intersects(bits)
    }
    /// Least upper bound: a value that is either `self` or `other` (the two
    /// arms of a branch, say).
    pub fn join(self, other: GfpValue) -> GfpValue {
        GfpValue {
            must: self.must & other.must,
            may: self.may | other.may,
        }
    }
}

impl BitOr for GfpValue {
    type Output = GfpValue;
    fn bitor(self, rhs: GfpValue) -> GfpValue {
        GfpValue {
            must: self.must | rhs.must,
            may: self.may | rhs.may,
        }
    }
}
impl BitAnd for GfpValue {
    type Output = GfpValue;
    fn bitand(self, rhs: GfpValue) -> GfpValue {
        GfpValue {
            must: self.must & rhs.must,
            may: self.may & rhs.may,
        }
    }
}
impl Not for GfpValue {
    type Output = GfpValue;
    fn not(self) -> GfpValue {
        GfpValue {
            must: !self.may & Gfp::ALL,
            may: !self.must & Gfp::ALL,
        }
    }
}
impl BitXor for GfpValue {
    type Output = GfpValue;
    fn bitxor(self, rhs: GfpValue) -> GfpValue {
        // A bit is known only where both sides are known.
        let known = !(self.may ^ self.must) & !(rhs.may ^ rhs.must) & Gfp::ALL;
        let val = (self.must ^ rhs.must) & known;
        GfpValue {
            must: val,
            may: val | (!known & Gfp::ALL),
        }
    }
}

impl fmt::Display for GfpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.is_exact() {
            Some(g) => g.fmt(f),
            None if self.must.is_empty() => f.write_str("<unknown>"),
            None => write!(f, "<unknown> | {}", self.must),
        }
    }
}

/// A parse error with the byte span of the offending token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GfpParseError {
    pub span: Range<usize>,
    pub message: String,
}

impl fmt::Display for GfpParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for GfpParseError {}

/// A parsed gfp expression. Chains of one operator are n-ary and runs of
/// `~` collapse at parse time, so the tree is only as deep as the source's
/// parentheses, which [`MAX_NESTING`] bounds: evaluating, walking and
/// dropping it never recurse deeper than that, whatever the input's length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A kernel name resolved at parse time.
    Name(String, Gfp, Range<usize>),
    /// Any other identifier: a variable or a macro this model doesn't know.
    Ident(String, Range<usize>),
    Lit(u32),
    Not(Box<Expr>),
    /// `a | b | ...`, two or more operands.
    Or(Vec<Expr>),
    /// `a & b & ...`, two or more operands.
    And(Vec<Expr>),
    /// `a ^ b ^ ...`, two or more operands.
    Xor(Vec<Expr>),
}

/// Parentheses nest at most this deep in a gfp expression. Real masks nest
/// two or three levels (`(GFP_KERNEL & ~(__GFP_FS | __GFP_IO))`); the bound
/// keeps the parser's recursion, and every walk over the tree, far inside
/// the smallest thread stack the tools run on.
pub const MAX_NESTING: usize = 256;

impl Expr {
    /// Evaluate; identifiers that are not kernel names go to `resolve`, and
    /// are unknown when it returns `None`.
    pub fn eval(&self, resolve: &mut dyn FnMut(&str) -> Option<GfpValue>) -> GfpValue {
        let fold = |xs: &[Expr],
                    resolve: &mut dyn FnMut(&str) -> Option<GfpValue>,
                    op: fn(GfpValue, GfpValue) -> GfpValue| {
            let mut it = xs.iter();
            let first = it
                .next()
                .map_or(GfpValue::exact(Gfp::EMPTY), |e| e.eval(resolve));
            it.fold(first, |acc, e| op(acc, e.eval(resolve)))
        };
        match self {
            Expr::Name(_, g, _) => GfpValue::exact(*g),
            Expr::Ident(n, _) => resolve(n).unwrap_or(GfpValue::UNKNOWN),
            Expr::Lit(v) => GfpValue::exact(Gfp(*v)),
            Expr::Not(e) => !e.eval(resolve),
            Expr::Or(xs) => fold(xs, resolve, |a, b| a | b),
            Expr::And(xs) => fold(xs, resolve, |a, b| a & b),
            Expr::Xor(xs) => fold(xs, resolve, |a, b| a ^ b),
        }
    }

    /// Evaluate with no resolver: every non-kernel identifier is unknown.
    pub fn value(&self) -> GfpValue {
        self.eval(&mut |_| None)
    }

    /// Identifiers that are not kernel names, with their spans.
    pub fn unknown_idents(&self) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Ident(n, s) = e {
                out.push((n.clone(), s.clone()));
            }
        });
        out
    }

    fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Not(e) => e.walk(f),
            Expr::Or(xs) | Expr::And(xs) | Expr::Xor(xs) => {
                for x in xs {
                    x.walk(f);
                }
            }
            _ => {}
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Num(u32),
    Op(char),
}

fn lex(src: &str) -> Result<Vec<(Tok, Range<usize>)>, GfpParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_string()), start..i));
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let text = src[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let parsed = if let Some(h) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
                u32::from_str_radix(h, 16)
            } else {
                text.parse::<u32>()
            };
            let v = parsed.map_err(|_| GfpParseError {
                span: start..i,
                message: format!("`{}` is not a 32-bit number", &src[start..i]),
            })?;
            out.push((Tok::Num(v), start..i));
        } else if b"|&^~()".contains(&c) {
            i += 1;
            out.push((Tok::Op(c as char), start..i));
        } else {
            let ch = src[start..].chars().next().unwrap_or('?');
            return Err(GfpParseError {
                span: start..start + ch.len_utf8(),
                message: format!("unexpected `{ch}` in a gfp expression"),
            });
        }
    }
    Ok(out)
}

/// Parse a C gfp expression: names, numbers, `| & ^ ~`, parentheses and
/// casts such as `(gfp_t)` or `(__force gfp_t)`.
pub fn parse_expr(src: &str) -> Result<Expr, GfpParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.len(),
        depth: 0,
    };
    if p.toks.is_empty() {
        return Err(GfpParseError {
            span: 0..src.len().max(1),
            message: "empty gfp expression".into(),
        });
    }
    let e = p.or()?;
    if let Some((t, s)) = p.toks.get(p.pos) {
        return Err(GfpParseError {
            span: s.clone(),
            message: format!("unexpected {} after a complete expression", describe(t)),
        });
    }
    Ok(e)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(n) => format!("`{n}`"),
        Tok::Num(v) => format!("`{v}`"),
        Tok::Op(c) => format!("`{c}`"),
    }
}

struct Parser {
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    end: usize,
    /// Open parentheses around the current position.
    depth: usize,
}

const CAST_WORDS: &[&str] = &[
    "gfp_t", "__force", "unsigned", "int", "long", "u32", "const",
];

impl Parser {
    fn peek_op(&self, c: char) -> bool {
        matches!(self.toks.get(self.pos), Some((Tok::Op(o), _)) if *o == c)
    }
    /// One precedence level: a loop, not recursion, over `a op b op c`,
    /// giving one n-ary node.
    fn binary(
        &mut self,
        op: char,
        next: fn(&mut Parser) -> Result<Expr, GfpParseError>,
        make: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, GfpParseError> {
        let first = next(self)?;
        if !self.peek_op(op) {
            return Ok(first);
        }
        let mut xs = vec![first];
        while self.peek_op(op) {
            self.pos += 1;
            xs.push(next(self)?);
        }
        Ok(make(xs))
    }
    fn or(&mut self) -> Result<Expr, GfpParseError> {
        self.binary('|', Parser::xor, Expr::Or)
    }
    fn xor(&mut self) -> Result<Expr, GfpParseError> {
        self.binary('^', Parser::and, Expr::Xor)
    }
    fn and(&mut self) -> Result<Expr, GfpParseError> {
        self.binary('&', Parser::unary, Expr::And)
    }
    /// Prefix `~` and casts, in a loop: `~~x` is `x`, a cast changes nothing.
    fn unary(&mut self) -> Result<Expr, GfpParseError> {
        let mut negate = false;
        loop {
            if self.peek_op('~') {
                self.pos += 1;
                negate = !negate;
                continue;
            }
            let cast = self.cast_len();
            if cast > 0 {
                self.pos += cast;
                continue;
            }
            break;
        }
        let e = self.primary()?;
        Ok(if negate { Expr::Not(Box::new(e)) } else { e })
    }
    /// Tokens making up a cast at the current position, or 0.
    fn cast_len(&self) -> usize {
        if !self.peek_op('(') {
            return 0;
        }
        let mut i = self.pos + 1;
        let mut words = 0;
        while let Some((Tok::Ident(w), _)) = self.toks.get(i) {
            if !CAST_WORDS.contains(&w.as_str()) {
                return 0;
            }
            words += 1;
            i += 1;
        }
        match self.toks.get(i) {
            Some((Tok::Op(')'), _)) if words > 0 => i + 1 - self.pos,
            _ => 0,
        }
    }
    fn primary(&mut self) -> Result<Expr, GfpParseError> {
        let Some((tok, span)) = self.toks.get(self.pos).cloned() else {
            return Err(GfpParseError {
                span: self.end..self.end + 1,
                message: "expression ends where a flag, number or `(` was expected".into(),
            });
        };
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(Expr::Lit(v)),
            Tok::Ident(n) => ident(n, span),
            Tok::Op('(') => {
                if self.depth >= MAX_NESTING {
                    return Err(GfpParseError {
                        span,
                        message: format!(
                            "gfp expression nests parentheses deeper than {MAX_NESTING} levels"
                        ),
                    });
                }
                self.depth += 1;
                let e = self.or()?;
                self.depth -= 1;
                if !self.peek_op(')') {
                    let at = self
                        .toks
                        .get(self.pos)
                        .map_or(self.end..self.end + 1, |t| t.1.clone());
                    return Err(GfpParseError {
                        span: at,
                        message: "missing `)`".into(),
                    });
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Op(c) => Err(GfpParseError {
                span,
                message: format!("expected a flag, number or `(`, found `{c}`"),
            }),
        }
    }
}

fn ident(n: String, span: Range<usize>) -> Result<Expr, GfpParseError> {
    if let Some(g) = Gfp::lookup(&n) {
        return Ok(Expr::Name(n, g, span));
    }
    if n.starts_with("GFP_") || n.starts_with("__GFP_") {
        let hint = suggest(&n)
            .map(|s| format!(", did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(GfpParseError {
            span,
            message: format!("unknown gfp flag `{n}`{hint}"),
        });
    }
    Ok(Expr::Ident(n, span))
}

/// The closest kernel name by edit distance, if close enough to be a typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    // Names further apart in length than the distance allowed cannot
    // match; skipping them keeps a megabyte-long identifier linear.
    names()
        .filter(|(n, _)| n.len().abs_diff(name.len()) <= 3)
        .map(|(n, _)| (edit_distance(name, n), n))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Composite masks, bit by bit, as `include/linux/gfp_types.h` defines them.
    #[test]
    fn composite_bits_match_gfp_types_h() {
        let cases: &[(&str, &[&str])] = &[
            (
                "__GFP_RECLAIM",
                &["__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM"],
            ),
            (
                "GFP_KERNEL",
                &[
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_DIRECT_RECLAIM",
                    "__GFP_KSWAPD_RECLAIM",
                ],
            ),
            (
                "GFP_KERNEL_ACCOUNT",
                &[
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_DIRECT_RECLAIM",
                    "__GFP_KSWAPD_RECLAIM",
                    "__GFP_ACCOUNT",
                ],
            ),
            (
                "GFP_NOFS",
                &["__GFP_IO", "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM"],
            ),
            (
                "GFP_NOIO",
                &["__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM"],
            ),
            ("GFP_NOWAIT", &["__GFP_KSWAPD_RECLAIM", "__GFP_NOWARN"]),
            ("GFP_ATOMIC", &["__GFP_HIGH", "__GFP_KSWAPD_RECLAIM"]),
            (
                "GFP_USER",
                &[
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_DIRECT_RECLAIM",
                    "__GFP_KSWAPD_RECLAIM",
                    "__GFP_HARDWALL",
                ],
            ),
            (
                "GFP_HIGHUSER",
                &[
                    "__GFP_HIGHMEM",
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_DIRECT_RECLAIM",
                    "__GFP_KSWAPD_RECLAIM",
                    "__GFP_HARDWALL",
                ],
            ),
            (
                "GFP_HIGHUSER_MOVABLE",
                &[
                    "__GFP_HIGHMEM",
                    "__GFP_MOVABLE",
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_DIRECT_RECLAIM",
                    "__GFP_KSWAPD_RECLAIM",
                    "__GFP_HARDWALL",
                    "__GFP_SKIP_KASAN",
                ],
            ),
            (
                "GFP_TRANSHUGE_LIGHT",
                &[
                    "__GFP_HIGHMEM",
                    "__GFP_MOVABLE",
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_NOWARN",
                    "__GFP_COMP",
                    "__GFP_NOMEMALLOC",
                    "__GFP_HARDWALL",
                    "__GFP_SKIP_KASAN",
                ],
            ),
            (
                "GFP_TRANSHUGE",
                &[
                    "__GFP_HIGHMEM",
                    "__GFP_MOVABLE",
                    "__GFP_IO",
                    "__GFP_FS",
                    "__GFP_DIRECT_RECLAIM",
                    "__GFP_NOWARN",
                    "__GFP_COMP",
                    "__GFP_NOMEMALLOC",
                    "__GFP_HARDWALL",
                    "__GFP_SKIP_KASAN",
                ],
            ),
            ("GFP_DMA", &["__GFP_DMA"]),
            ("GFP_DMA32", &["__GFP_DMA32"]),
        ];
        for (name, bits) in cases {
            let g = Gfp::lookup(name).unwrap_or_else(|| panic!("{name} unknown"));
            let mut want: Vec<&str> = bits.to_vec();
            want.sort_by_key(|b| Gfp::lookup(b).map(|g| g.0));
            assert_eq!(g.bit_names().collect::<Vec<_>>(), want, "{name}");
        }
    }

    #[test]
    fn single_bit_values_match_the_kernel() {
        assert_eq!(Gfp::IO.0, 0x40);
        assert_eq!(Gfp::FS.0, 0x80);
        assert_eq!(Gfp::DIRECT_RECLAIM.0, 0x400);
        assert_eq!(Gfp::NORETRY.0, 0x10000);
        assert_eq!(Gfp::NOMEMALLOC.0, 0x80000);
        for w in BITS.windows(2) {
            assert!(w[0].1.0 < w[1].1.0 && w[1].1.0.is_power_of_two());
        }
    }

    #[test]
    fn prints_canonical_composite_form() {
        let cases = [
            (
                "GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN",
                "GFP_NOIO | __GFP_NOWARN | __GFP_NORETRY",
            ),
            ("GFP_KERNEL & ~__GFP_FS", "GFP_NOFS"),
            ("(GFP_KERNEL & ~__GFP_FS)", "GFP_NOFS"),
            ("GFP_KERNEL & ~__GFP_IO & ~__GFP_FS", "GFP_NOIO"),
            ("__GFP_IO | __GFP_FS | __GFP_RECLAIM", "GFP_KERNEL"),
            ("GFP_KERNEL | __GFP_ACCOUNT", "GFP_KERNEL_ACCOUNT"),
            ("0xcc0", "GFP_KERNEL"),
            (
                "GFP_KERNEL & ~__GFP_DIRECT_RECLAIM",
                "__GFP_IO | __GFP_FS | __GFP_KSWAPD_RECLAIM",
            ),
            ("0", "0"),
            (
                "GFP_NOWAIT | __GFP_NORETRY | __GFP_NOMEMALLOC",
                "GFP_NOWAIT | __GFP_NORETRY | __GFP_NOMEMALLOC",
            ),
        ];
        for (src, want) in cases {
            let v = parse_expr(src).unwrap().value();
            assert_eq!(v.is_exact().unwrap().to_string(), want, "{src}");
        }
    }

    #[test]
    fn unknown_variable_stays_unknown_but_known_bits_survive() {
        let e = parse_expr("gfp | __GFP_NOWARN").unwrap();
        let v = e.value();
        assert!(v.is_exact().is_none());
        assert!(v.surely(Gfp::NOWARN));
        assert!(!v.surely_not(Gfp::FS));
        assert_eq!(e.unknown_idents(), vec![("gfp".to_string(), 0..3)]);
        let cleared = parse_expr("gfp & ~__GFP_FS").unwrap().value();
        assert!(cleared.surely_not(Gfp::FS));
        assert!(!cleared.surely(Gfp::IO));
        let resolved = e.eval(&mut |n| (n == "gfp").then_some(GfpValue::exact(Gfp::NOFS)));
        assert_eq!(resolved.is_exact(), Some(Gfp::NOFS | Gfp::NOWARN));
    }

    #[test]
    fn casts_and_hex_parse() {
        let v = parse_expr("(__force gfp_t)0x400u | (gfp_t)__GFP_IO")
            .unwrap()
            .value();
        assert_eq!(v.is_exact(), Some(Gfp::DIRECT_RECLAIM | Gfp::IO));
    }

    #[test]
    fn typo_points_at_the_token_with_a_suggestion() {
        let err = parse_expr("GFP_NOIO | GFP_KERNAL").unwrap_err();
        assert_eq!(err.span, 11..21);
        assert!(
            err.message.contains("did you mean `GFP_KERNEL`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn syntax_errors_have_spans() {
        assert_eq!(parse_expr("GFP_KERNEL |").unwrap_err().span, 12..13);
        assert_eq!(parse_expr("GFP_KERNEL $ 1").unwrap_err().span, 11..12);
        assert_eq!(
            parse_expr("(GFP_KERNEL").unwrap_err().message,
            "missing `)`"
        );
        assert_eq!(parse_expr("GFP_KERNEL GFP_NOIO").unwrap_err().span, 11..19);
        assert!(parse_expr("").is_err());
        assert!(parse_expr("0x1ffffffff").is_err());
    }

    #[test]
    fn abstract_ops_are_sound_on_random_values() {
        // For every concrete instantiation of unknown bits, the concrete
        // result must lie within [must, may].
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as u32) & Gfp::ALL.0
        };
        for _ in 0..2000 {
            let (a_must, a_extra, b_must, b_extra) = (next(), next(), next(), next());
            let a = GfpValue {
                must: Gfp(a_must),
                may: Gfp(a_must | a_extra),
            };
            let b = GfpValue {
                must: Gfp(b_must),
                may: Gfp(b_must | b_extra),
            };
            let ca = Gfp(a_must | (a_extra & next()));
            let cb = Gfp(b_must | (b_extra & next()));
            let within = |v: GfpValue, c: Gfp| v.may.contains(c) && c.contains(v.must);
            assert!(within(a | b, ca | cb));
            assert!(within(a & b, ca & cb));
            assert!(within(a ^ b, (ca ^ cb) & Gfp::ALL));
            assert!(within(!a, !ca & Gfp::ALL));
            assert!(within(a.join(b), ca) && within(a.join(b), cb));
        }
    }
}

/// Long and deep inputs: each used to overflow the stack (SIGABRT) in the
/// recursive parser, evaluator or drop. A mask in kernel source is a few
/// terms; these sizes are hostile input that must end in a value or an error.
#[cfg(test)]
mod hostile_tests {
    use super::*;

    #[test]
    fn a_flat_or_chain_of_100k_terms_evaluates() {
        let src = vec!["__GFP_NOWARN"; 100_000].join(" | ") + " | GFP_NOIO";
        let v = parse_expr(&src).unwrap().value();
        assert_eq!(v.is_exact(), Some(Gfp::NOIO | Gfp::NOWARN));
        let and = format!("GFP_KERNEL{}", " & ~__GFP_FS".repeat(50_000));
        assert_eq!(
            parse_expr(&and).unwrap().value().is_exact(),
            Some(Gfp::NOFS)
        );
    }

    #[test]
    fn twenty_thousand_tildes_cancel_pairwise() {
        let even = format!("{}GFP_KERNEL", "~".repeat(20_000));
        assert_eq!(
            parse_expr(&even).unwrap().value().is_exact(),
            Some(Gfp::KERNEL)
        );
        let odd = format!("GFP_KERNEL & {}__GFP_FS", "~".repeat(20_001));
        assert_eq!(
            parse_expr(&odd).unwrap().value().is_exact(),
            Some(Gfp::NOFS)
        );
        let casts = format!("{}__GFP_IO", "(gfp_t)~".repeat(10_000));
        assert_eq!(
            parse_expr(&casts).unwrap().value().is_exact(),
            Some(Gfp::IO)
        );
    }

    #[test]
    fn nesting_is_bounded_with_an_error_at_the_parenthesis() {
        let ok = format!(
            "{}GFP_NOFS{}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert_eq!(parse_expr(&ok).unwrap().value().is_exact(), Some(Gfp::NOFS));
        let deep = format!("{}GFP_NOFS{}", "(".repeat(7_000), ")".repeat(7_000));
        let err = parse_expr(&deep).unwrap_err();
        // The first parenthesis past the bound is the one reported.
        assert_eq!(err.span, MAX_NESTING..MAX_NESTING + 1);
        assert!(err.message.contains("deeper than 256"), "{}", err.message);
        let tilde_parens = format!("{}GFP_NOFS{}", "~(".repeat(7_000), ")".repeat(7_000));
        assert!(parse_expr(&tilde_parens).is_err());
    }
}
