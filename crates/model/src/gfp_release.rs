//! gfp names, bit values and composites as a given kernel release has them
//! (`explain --kernel X.Y`). The rest of the model works on one fixed bit
//! layout (`gfp.rs`); this file says which of those names a release has,
//! what its composites are made of, and what a mask's value is in that
//! release's `gfp_types.h`.
//!
//! Read from Debian's `linux-source-6.1` (6.1.192) and `linux-source-6.12`
//! (6.12.117) trees, `include/linux/gfp_types.h` and `mm/internal.h`, plus
//! the upstream changes named on each fact. What this file does not record
//! (bit values before 6.1; when the KASAN and MTE bits arrived) it says it
//! does not know, rather than guessing.

use crate::gfp::{Expr, Gfp, GfpParseError, GfpValue};
use crate::history::KernelVersion;
use std::fmt;

/// A kernel release, major.minor (a stable patch level is accepted and
/// ignored: names and composites change in merge windows, with the one
/// exception noted on [`NOWAIT_NOWARN`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Release {
    pub major: u16,
    pub minor: u16,
}

impl Release {
    pub const fn new(major: u16, minor: u16) -> Release {
        Release { major, minor }
    }

    /// `6.1`, `v6.1`, `6.1.192`, `6.1.0-18-amd64`: whatever
    /// [`KernelVersion::parse`] (`--kernel` of the scenario commands)
    /// accepts, so the two flags take the same strings.
    pub fn parse(s: &str) -> Result<Release, String> {
        let v = KernelVersion::parse(s)?;
        let r = Release::new(v.major, v.minor);
        if r < RECLAIM_BITS_SINCE {
            return Err(format!(
                "{r} predates the __GFP_DIRECT_RECLAIM / __GFP_KSWAPD_RECLAIM split of v4.4 \
                 (d0164adc89f6, \"mm, page_alloc: distinguish between being unable to sleep, \
                 unwilling to sleep and avoiding waking kswapd\"); its __GFP_WAIT is not modelled"
            ));
        }
        Ok(r)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// v4.4 (d0164adc89f6): `__GFP_WAIT` became `__GFP_DIRECT_RECLAIM |
/// __GFP_KSWAPD_RECLAIM` and `__GFP_ATOMIC` appeared; the model starts here.
pub const RECLAIM_BITS_SINCE: Release = Release::new(4, 4);

/// v6.3, "mm: discard __GFP_ATOMIC" (NeilBrown, the last patch of Mel
/// Gorman's "Discard __GFP_ATOMIC" series, linux-mm, January 2023):
/// `__GFP_ATOMIC` is gone, `GFP_ATOMIC` is `__GFP_HIGH |
/// __GFP_KSWAPD_RECLAIM`, and bit 0x200 is left unused (`___GFP_UNUSED_BIT`
/// in 6.12's `gfp_types.h`), so no other bit moved.
pub const ATOMIC_REMOVED: Release = Release::new(6, 3);

/// v6.17, 16f5dfbc851b ("gfp: include __GFP_NOWARN in GFP_NOWAIT").
/// Stable 6.12.y carries it too (6.12.117's `gfp_types.h` has it), from a
/// point release this file does not record: for 6.12 we follow 6.12.117
/// and say so.
pub const NOWAIT_NOWARN: Release = Release::new(6, 17);

/// v6.10, memory allocation profiling ("mm: enumerate all gfp flags",
/// "mm: introduce __GFP_NO_OBJ_EXT flag to selectively prevent slabobj_ext
/// creation"): the bits became an enum, so the config-dependent tail bits
/// (`__GFP_SKIP_ZERO` onward) take the next free position of whatever the
/// config enables; and `__GFP_NO_OBJ_EXT` appeared.
pub const GFP_ENUM: Release = Release::new(6, 10);

/// The first release whose bit values this file records (Debian's 6.1).
pub const VALUES_KNOWN_SINCE: Release = Release::new(6, 1);

/// When a name exists: `since..until` (until = first release without it).
struct Life {
    name: &'static str,
    since: Release,
    until: Option<Release>,
    /// Whether `since` is known, or only "no later than".
    since_known: bool,
    source: &'static str,
}

const LIVES: &[Life] = &[
    Life {
        name: "__GFP_ATOMIC",
        since: RECLAIM_BITS_SINCE,
        until: Some(ATOMIC_REMOVED),
        since_known: true,
        source: "added in v4.4 (d0164adc89f6), removed in v6.3 (\"mm: discard __GFP_ATOMIC\")",
    },
    Life {
        name: "__GFP_ACCOUNT",
        since: Release::new(4, 5),
        until: None,
        since_known: true,
        source: "v4.5, \"memcg: only account kmem allocations marked as __GFP_ACCOUNT\"",
    },
    Life {
        name: "GFP_KERNEL_ACCOUNT",
        since: Release::new(4, 5),
        until: None,
        since_known: true,
        source: "v4.5, with __GFP_ACCOUNT",
    },
    Life {
        name: "__GFP_NOLOCKDEP",
        since: Release::new(4, 12),
        until: None,
        since_known: true,
        source: "v4.12, \"lockdep: allow to disable reclaim lockup detection\"",
    },
    Life {
        name: "__GFP_RETRY_MAYFAIL",
        since: Release::new(4, 13),
        until: None,
        since_known: true,
        source: "v4.13, \"mm, tree wide: replace __GFP_REPEAT by __GFP_RETRY_MAYFAIL with more useful semantic\"",
    },
    Life {
        name: "__GFP_ZEROTAGS",
        since: VALUES_KNOWN_SINCE,
        until: None,
        since_known: false,
        source: "arm64 MTE; present in 6.1, the release it arrived in is not recorded here",
    },
    Life {
        name: "__GFP_SKIP_ZERO",
        since: VALUES_KNOWN_SINCE,
        until: None,
        since_known: false,
        source: "KASAN hardware tags; present in 6.1, the release it arrived in is not recorded here",
    },
    Life {
        name: "__GFP_SKIP_KASAN",
        since: Release::new(6, 12),
        until: None,
        since_known: false,
        source: "6.1 has __GFP_SKIP_KASAN_POISON and __GFP_SKIP_KASAN_UNPOISON instead; 6.12 has the merged name; the release between them that merged them is not recorded here",
    },
    Life {
        name: "__GFP_NO_OBJ_EXT",
        since: GFP_ENUM,
        until: None,
        since_known: true,
        source: "v6.10, memory allocation profiling",
    },
];

/// Whether a name exists in a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    Yes,
    /// Not in this release: why, with the change that added or removed it.
    No(String),
    /// Not known for this release (the file records only "no later than").
    Unknown(String),
}

impl Release {
    /// Whether `name` (a bit or composite) exists in this release.
    pub fn presence(self, name: &str) -> Presence {
        let Some(l) = LIVES.iter().find(|l| l.name == name) else {
            return Presence::Yes;
        };
        if let Some(u) = l.until
            && self >= u
        {
            return Presence::No(format!("`{name}` does not exist in {self}: {}", l.source));
        }
        if self < l.since {
            let msg = format!("`{name}` is not in {self}: {}", l.source);
            return if l.since_known {
                Presence::No(msg)
            } else {
                Presence::Unknown(msg)
            };
        }
        Presence::Yes
    }

    /// What a composite is made of in this release, in the model's bits.
    pub fn composite(self, name: &str) -> Option<Gfp> {
        match name {
            "GFP_ATOMIC" if self < ATOMIC_REMOVED => Some(Gfp::ATOMIC_MASK | Gfp::ATOMIC),
            "GFP_NOWAIT" if !self.nowait_has_nowarn() => Some(Gfp::KSWAPD_RECLAIM),
            "GFP_RECLAIM_MASK" if self < ATOMIC_REMOVED => Some(Gfp::RECLAIM_MASK | Gfp::ATOMIC),
            _ => None,
        }
    }

    fn nowait_has_nowarn(self) -> bool {
        self >= NOWAIT_NOWARN || self == Release::new(6, 12)
    }

    /// The composites this release prints, largest first (as
    /// `gfp::COMPOSITES`, with this release's definitions).
    pub fn composites(self) -> Vec<(&'static str, Gfp)> {
        crate::gfp::COMPOSITES
            .iter()
            .filter(|(n, _)| self.presence(n) == Presence::Yes)
            .map(|(n, g)| (*n, self.composite(n).unwrap_or(*g)))
            .collect()
    }

    /// Rewrite a parsed expression so every kernel name has this release's
    /// value. A name the release lacks is an error at its span; a name this
    /// file cannot place in the release is kept, with a note saying so.
    pub fn resolve(self, e: &Expr, notes: &mut Vec<String>) -> Result<Expr, GfpParseError> {
        let mut b = |x: &Expr| self.resolve(x, notes).map(Box::new);
        Ok(match e {
            Expr::Name(n, g, span) => {
                match self.presence(n) {
                    Presence::No(why) => {
                        return Err(GfpParseError {
                            span: span.clone(),
                            message: why,
                        });
                    }
                    Presence::Unknown(why) => notes.push(why),
                    Presence::Yes => {}
                }
                Expr::Name(n.clone(), self.composite(n).unwrap_or(*g), span.clone())
            }
            Expr::Lit(v) if self >= ATOMIC_REMOVED && v & Gfp::ATOMIC.0 != 0 => {
                // 0x200 is ___GFP_UNUSED_BIT from v6.3: nothing reads it.
                Expr::Lit(v & !Gfp::ATOMIC.0)
            }
            Expr::Not(x) => Expr::Not(b(x)?),
            Expr::Or(xs) => Expr::Or(self.resolve_all(xs, notes)?),
            Expr::And(xs) => Expr::And(self.resolve_all(xs, notes)?),
            Expr::Xor(xs) => Expr::Xor(self.resolve_all(xs, notes)?),
            other => other.clone(),
        })
    }

    /// `resolve` over the operands of one `|`, `&` or `^` chain.
    fn resolve_all(self, xs: &[Expr], notes: &mut Vec<String>) -> Result<Vec<Expr>, GfpParseError> {
        let mut out = Vec::with_capacity(xs.len());
        for x in xs {
            out.push(self.resolve(x, notes)?);
        }
        Ok(out)
    }

    /// The kernel form of a mask with this release's composites.
    pub fn canonical(self, g: Gfp) -> String {
        if g.is_empty() {
            return "0".into();
        }
        let comps = self.composites();
        let best = comps
            .iter()
            .filter(|(_, c)| g.contains(*c))
            .max_by_key(|(n, c)| {
                let rank = comps.iter().position(|(m, _)| m == n).unwrap_or(usize::MAX);
                (c.0.count_ones(), std::cmp::Reverse(rank))
            });
        let mut parts = Vec::new();
        let mut rest = g;
        if let Some((n, c)) = best {
            parts.push((*n).to_string());
            rest = rest.difference(*c);
        }
        parts.extend(rest.bit_names().map(str::to_string));
        if rest.unnamed_bits().0 != 0 {
            parts.push(format!("{:#x}", rest.unnamed_bits().0));
        }
        parts.join(" | ")
    }

    /// Same for a partly unknown value.
    pub fn canonical_value(self, v: GfpValue) -> String {
        match v.is_exact() {
            Some(g) => self.canonical(g),
            None if v.must.is_empty() => "<unknown>".into(),
            None => format!("<unknown> | {}", self.canonical(v.must)),
        }
    }

    /// The composite a mask equals in this release.
    pub fn equals(self, g: Gfp) -> Option<&'static str> {
        self.composites()
            .into_iter()
            .find(|(_, c)| *c == g)
            .map(|(n, _)| n)
    }

    /// The mask's value as this release's `gfp_types.h` numbers it, or why
    /// it cannot be given: before 6.1 the values are not recorded here; the
    /// tail bits (`__GFP_SKIP_ZERO` onward) depend on the kernel config.
    pub fn hex(self, g: Gfp) -> Result<String, String> {
        if self < VALUES_KNOWN_SINCE {
            return Err(format!(
                "bit values before {VALUES_KNOWN_SINCE} are not recorded here: see include/linux/gfp.h of {self}"
            ));
        }
        let tail = Gfp(!(Gfp::ZEROTAGS.0 | (Gfp::ZEROTAGS.0 - 1)) & Gfp::ALL.0);
        if g.intersects(tail) {
            let names: Vec<&str> = (g & tail).bit_names().collect();
            return Err(format!(
                "{} {} a config-dependent position in {self}",
                names.join(", "),
                if names.len() == 1 { "has" } else { "have" }
            ));
        }
        // Below __GFP_SKIP_ZERO every bit has had the same value from 6.1 on
        // (6.3 left __GFP_ATOMIC's 0x200 unused rather than renumbering).
        Ok(format!("{:#x}", g.0))
    }

    /// Facts about this release that bear on the names `e` uses.
    pub fn notes(self, e: &Expr) -> Vec<String> {
        let mut names = Vec::new();
        collect_names(e, &mut names);
        let uses = |n: &[&str]| names.iter().any(|x| n.contains(&x.as_str()));
        let mut out = Vec::new();
        let atomic = uses(&["GFP_ATOMIC", "__GFP_ATOMIC", "GFP_RECLAIM_MASK"]);
        if atomic && self < ATOMIC_REMOVED {
            out.push(format!(
                "GFP_ATOMIC is __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM in {self}; \
                 __GFP_ATOMIC (0x200) goes away in 6.3 (\"mm: discard __GFP_ATOMIC\")"
            ));
        } else if atomic {
            out.push(format!(
                "GFP_ATOMIC is __GFP_HIGH | __GFP_KSWAPD_RECLAIM in {self}; \
                 __GFP_ATOMIC was removed in 6.3 and 0x200 is unused"
            ));
        }
        let nowait = uses(&["GFP_NOWAIT"]);
        if nowait && self == Release::new(6, 12) {
            out.push(
                "GFP_NOWAIT includes __GFP_NOWARN as in 6.12.117 (a stable backport of \
                 16f5dfbc851b, v6.17); earlier 6.12.y releases may not have it"
                    .into(),
            );
        } else if nowait && self.nowait_has_nowarn() {
            out.push(format!(
                "GFP_NOWAIT includes __GFP_NOWARN in {self} (16f5dfbc851b, v6.17)"
            ));
        } else if nowait {
            out.push(format!(
                "GFP_NOWAIT is __GFP_KSWAPD_RECLAIM alone in {self} (__GFP_NOWARN joined it \
                 in v6.17, 16f5dfbc851b)"
            ));
        }
        out
    }
}

fn collect_names(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Name(n, ..) => out.push(n.clone()),
        Expr::Not(x) => collect_names(x, out),
        Expr::Or(xs) | Expr::And(xs) | Expr::Xor(xs) => {
            for x in xs {
                collect_names(x, out);
            }
        }
        Expr::Ident(..) | Expr::Lit(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gfp::parse_expr;

    fn value(r: Release, src: &str) -> Result<Gfp, String> {
        let e = parse_expr(src).map_err(|e| e.message)?;
        let e = r.resolve(&e, &mut Vec::new()).map_err(|e| e.message)?;
        Ok(e.value().is_exact().expect("exact"))
    }

    /// 6.1's gfp_types.h: `#define GFP_ATOMIC (__GFP_HIGH|__GFP_ATOMIC|
    /// __GFP_KSWAPD_RECLAIM)` = 0x20 | 0x200 | 0x800 = 0xa20. 6.12's:
    /// `(__GFP_HIGH|__GFP_KSWAPD_RECLAIM)` = 0x820.
    #[test]
    fn gfp_atomic_by_release() {
        let old = Release::new(6, 1);
        let new = Release::new(6, 12);
        assert_eq!(old.hex(value(old, "GFP_ATOMIC").unwrap()).unwrap(), "0xa20");
        assert_eq!(new.hex(value(new, "GFP_ATOMIC").unwrap()).unwrap(), "0x820");
        assert_eq!(
            old.canonical(value(old, "GFP_ATOMIC").unwrap()),
            "GFP_ATOMIC"
        );
        assert_eq!(
            old.equals(value(old, "GFP_ATOMIC").unwrap()),
            Some("GFP_ATOMIC")
        );
        // The same bits without __GFP_ATOMIC are not GFP_ATOMIC in 6.1.
        let g = value(old, "__GFP_HIGH | __GFP_KSWAPD_RECLAIM").unwrap();
        assert_eq!(old.equals(g), None);
        assert_eq!(old.canonical(g), "GFP_NOWAIT | __GFP_HIGH");
    }

    #[test]
    fn gfp_atomic_bit_is_an_error_from_6_3() {
        let err = value(Release::new(6, 3), "GFP_KERNEL | __GFP_ATOMIC").unwrap_err();
        assert!(err.contains("does not exist in 6.3"), "{err}");
        assert!(value(Release::new(6, 2), "__GFP_ATOMIC").is_ok());
        // 0x200 as a literal: unused from 6.3, so nothing is set.
        assert_eq!(value(Release::new(6, 12), "0x200").unwrap(), Gfp::EMPTY);
    }

    /// 6.1: `#define GFP_NOWAIT (__GFP_KSWAPD_RECLAIM)` = 0x800; 6.12.117:
    /// `(__GFP_KSWAPD_RECLAIM | __GFP_NOWARN)` = 0x2800.
    #[test]
    fn gfp_nowait_by_release() {
        let (a, b) = (Release::new(6, 1), Release::new(6, 12));
        assert_eq!(a.hex(value(a, "GFP_NOWAIT").unwrap()).unwrap(), "0x800");
        assert_eq!(b.hex(value(b, "GFP_NOWAIT").unwrap()).unwrap(), "0x2800");
    }

    /// Both trees: GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS = 0xcc0,
    /// GFP_NOFS 0xc40, GFP_NOIO 0xc00.
    #[test]
    fn stable_composites_keep_their_values() {
        for r in [Release::new(6, 1), Release::new(6, 12)] {
            for (name, hex) in [
                ("GFP_KERNEL", "0xcc0"),
                ("GFP_NOFS", "0xc40"),
                ("GFP_NOIO", "0xc00"),
            ] {
                assert_eq!(r.hex(value(r, name).unwrap()).unwrap(), hex, "{r} {name}");
            }
        }
    }

    #[test]
    fn unknowns_are_said_not_guessed() {
        assert!(Release::new(5, 10).hex(Gfp::KERNEL).is_err());
        assert!(Release::new(6, 12).hex(Gfp::NOLOCKDEP).is_err());
        assert!(matches!(
            Release::new(5, 4).presence("__GFP_ZEROTAGS"),
            Presence::Unknown(_)
        ));
        let mut notes = Vec::new();
        let e = parse_expr("GFP_KERNEL | __GFP_ZEROTAGS").unwrap();
        assert!(Release::new(5, 4).resolve(&e, &mut notes).is_ok());
        assert!(notes[0].contains("not recorded"), "{notes:?}");
        assert!(matches!(
            Release::new(4, 12).presence("__GFP_RETRY_MAYFAIL"),
            Presence::No(_)
        ));
        assert!(Release::parse("4.3").is_err());
        assert_eq!(
            Release::parse("6.1.0-18-amd64").unwrap(),
            Release::new(6, 1)
        );
    }

    /// `explain --kernel` and `check --kernel` take the same strings: a
    /// version the scenario commands reject (a fourth component, a
    /// non-numeric patch level, a number past u16, an empty part) is not
    /// a release here either, and what they accept maps to its major.minor.
    #[test]
    fn release_strings_are_the_scenario_commands_strings() {
        for s in [
            "6.1",
            "v6.12",
            "6.1.192",
            "6.1.0-18-amd64",
            "5.14.0-362.el9.x86_64",
            "6.1.x",
            "6.1.2.3",
            "6.",
            "",
            "99999999999999999999.1",
            "6.99999999999",
            "é.1",
        ] {
            let v = KernelVersion::parse(s);
            let r = Release::parse(s);
            assert_eq!(v.is_ok(), r.is_ok(), "{s:?}: {v:?} vs {r:?}");
            if let (Ok(v), Ok(r)) = (v, r) {
                assert_eq!((v.major, v.minor), (r.major, r.minor), "{s:?}");
            }
        }
    }
}
