//! Walking a tree: read each C file once, prefilter by tokens, parse only
//! the candidates, in parallel; findings sorted so output does not depend
//! on thread scheduling.

use crate::analyze::{KernelFacts, analyze_file, analyze_source, c_parser};
use crate::finding::Finding;
use crate::index::{FileIndex, Index, tokenize::index_file};
use crate::prefilter::Prefilter;
use crate::rule::Rule;
use crate::summary::Interproc;
use crate::suppress::Suppressions;
use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use reclaimscope_model::history::{KernelParams, KernelVersion, VmallocMode};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Files above this size are generated tables, not code: skipped and counted.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8 << 20;

#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub rules: Vec<Rule>,
    /// Target kernel; `None` reads it from the tree's top-level Makefile.
    pub kernel_version: Option<KernelVersion>,
    pub excludes: Vec<String>,
    pub max_file_size: u64,
    /// Index the whole tree and follow calls across functions and files
    /// (`index/`, `summary.rs`); off, every function is judged alone.
    pub interprocedural: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            rules: Rule::defaults(),
            kernel_version: None,
            excludes: Vec::new(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            interprocedural: true,
        }
    }
}

/// Counts of what was read, parsed and skipped.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ScanStats {
    pub files_seen: usize,
    pub files_parsed: usize,
    pub bytes_read: u64,
    pub skipped_binary: usize,
    pub skipped_non_utf8: usize,
    pub skipped_huge: usize,
    pub skipped_unreadable: usize,
    /// Empty or whitespace-only `.c` files.
    pub skipped_empty: usize,
    /// `.c` files parsed with no function found and syntax errors.
    pub skipped_unparsable: usize,
    /// Named on the command line but not a `.c`/`.h` file.
    pub skipped_not_c: usize,
    /// FIFOs, sockets, devices and symlinks (never followed: a symlink
    /// loop or a FIFO must not hang or repeat the walk).
    pub skipped_special: usize,
    /// The analysis of the file failed (an internal error): skipped so the
    /// rest of the tree is still scanned.
    pub skipped_failed: usize,
    /// Functions (not files) skipped because they nest deeper than
    /// `MAX_FUNCTION_NESTING` syntax levels.
    pub skipped_deep_functions: usize,
    /// Parse regions abandoned because tree-sitter's error recovery went
    /// past its step budget (hostile input; never seen in a kernel tree).
    pub skipped_costly_regions: usize,
    pub suppressed: usize,
}

/// Why a file was not analysed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    Binary,
    NonUtf8,
    Huge,
    Unreadable,
    Empty,
    Unparsable,
    NotC,
    Special,
    Failed,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary file (NUL bytes)",
            SkipReason::NonUtf8 => "not valid UTF-8",
            SkipReason::Huge => "larger than the file size cap",
            SkipReason::Unreadable => "cannot be read",
            SkipReason::Empty => "empty",
            SkipReason::Unparsable => "no C function could be parsed",
            SkipReason::NotC => "not a .c or .h file",
            SkipReason::Special => "not a regular file (FIFO, socket, device or symlink)",
            SkipReason::Failed => "internal error while analysing; please report",
        }
    }
}

/// One skipped file and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: SkipReason,
}

impl ScanStats {
    fn count(&mut self, r: SkipReason) {
        let slot = match r {
            SkipReason::Binary => &mut self.skipped_binary,
            SkipReason::NonUtf8 => &mut self.skipped_non_utf8,
            SkipReason::Huge => &mut self.skipped_huge,
            SkipReason::Unreadable => &mut self.skipped_unreadable,
            SkipReason::Empty => &mut self.skipped_empty,
            SkipReason::Unparsable => &mut self.skipped_unparsable,
            SkipReason::NotC => &mut self.skipped_not_c,
            SkipReason::Special => &mut self.skipped_special,
            SkipReason::Failed => &mut self.skipped_failed,
        };
        *slot += 1;
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    /// The kernel version the version-gated rules assumed, if known.
    pub kernel_version: Option<String>,
    pub findings: Vec<Finding>,
    pub stats: ScanStats,
    /// The rules that ran; the others are "not run", not "0 findings".
    pub rules: Vec<Rule>,
    /// Every skipped file with its reason, sorted by path.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug)]
pub enum ScanError {
    /// A path given on the command line does not exist or cannot be read.
    BadPath(String),
    /// An `--exclude` pattern is not a glob.
    BadGlob(String),
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::BadPath(m) | ScanError::BadGlob(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ScanError {}

/// Facts the rules need, for a known or unknown version. Unknown means
/// "assume an old kernel": the version-gated rule then reports, which is
/// the conservative answer for code that may be backported.
pub fn kernel_facts(v: Option<KernelVersion>) -> KernelFacts {
    match v.map(KernelParams::for_version) {
        Some(p) => KernelFacts {
            vmalloc_honours_gfp: p.vmalloc == VmallocMode::Modern,
            kvmalloc_any_gfp: p.kvmalloc_any_gfp,
        },
        None => KernelFacts {
            vmalloc_honours_gfp: false,
            kvmalloc_any_gfp: false,
        },
    }
}

/// Analyse one in-memory file: findings sorted, suppressions applied.
pub fn scan_source(path: &str, src: &str, rules: &[Rule], facts: KernelFacts) -> Vec<Finding> {
    let mut parser = c_parser();
    let mut f = analyze_source(&mut parser, path, src, rules, facts, &HashMap::new(), None);
    let marks = Suppressions::new(src);
    f.retain(|x| !marks.suppresses(x.line, x.rule));
    f.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    f.dedup();
    f
}

/// `VERSION = 6` / `PATCHLEVEL = 1` from a kernel Makefile at or above `p`.
pub fn detect_kernel_version(p: &Path) -> Option<KernelVersion> {
    let start = if p.is_dir() {
        p.to_path_buf()
    } else {
        p.parent()?.to_path_buf()
    };
    let start = start.canonicalize().ok()?;
    for dir in start.ancestors() {
        let Ok(text) = std::fs::read_to_string(dir.join("Makefile")) else {
            continue;
        };
        let field = |k: &str| {
            text.lines().take(10).find_map(|l| {
                let (a, b) = l.split_once('=')?;
                (a.trim() == k).then(|| b.trim().to_string())
            })
        };
        if let (Some(v), Some(p)) = (field("VERSION"), field("PATCHLEVEL"))
            && let Ok(kv) = KernelVersion::parse(&format!("{v}.{p}"))
        {
            return Some(kv);
        }
    }
    None
}

/// Findings of one file, findings suppressed, functions nested too deep,
/// regions abandoned for their parse cost.
type FileResult = (Vec<Finding>, usize, usize, usize);

enum Outcome {
    NotC,
    Excluded,
    Skip(SkipReason),
    Filtered(u64),
    /// No rule token, but a `*_GFP` macro that a header may define.
    MacroUser(u64, String),
    Candidate(u64, String, Vec<Rule>),
}

/// Scan every `.c`/`.h` file under `paths`. `progress` is called with the
/// number of files seen so far (from worker threads).
pub fn scan_paths(
    paths: &[PathBuf],
    opts: &ScanOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ScanReport, ScanError> {
    for p in paths {
        if let Err(e) = std::fs::metadata(p) {
            return Err(ScanError::BadPath(format!("{}: error: {e}", p.display())));
        }
    }
    let excludes = build_globs(&opts.excludes)?;
    let version = opts
        .kernel_version
        .or_else(|| paths.iter().find_map(|p| detect_kernel_version(p)));
    let facts = kernel_facts(version);
    let prefilter = Prefilter::new(&opts.rules);
    let seen = AtomicUsize::new(0);
    let stats = Mutex::new(ScanStats::default());
    let skipped: Mutex<Vec<Skipped>> = Mutex::new(Vec::new());
    let skip = |path: &Path, reason: SkipReason| {
        let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
        st.files_seen += usize::from(reason != SkipReason::NotC && reason != SkipReason::Special);
        st.count(reason);
        drop(st);
        skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Skipped {
                file: display_path(path),
                reason,
            });
    };
    let candidates: Mutex<Vec<(String, String, Vec<Rule>)>> = Mutex::new(Vec::new());
    let macro_users: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let indexing = opts.interprocedural && !opts.rules.is_empty();
    // The scope rules walk callers to any depth: index every file. The
    // others need one level of callers: index the candidates in this pass
    // and, in a second, the files that name a function they define.
    let full = opts.rules.iter().any(|r| r.walks_callers());
    let file_indexes = IndexSink {
        full,
        files: Mutex::new(Vec::new()),
        rest: Mutex::new(Vec::new()),
    };
    let sink = indexing.then_some(&file_indexes);

    let handle = |path: &Path| {
        let outcome = read_and_filter(path, &excludes, &prefilter, opts.max_file_size, sink);
        let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(1024) {
            progress(n);
        }
        if let Outcome::Skip(r) = outcome {
            return skip(path, r);
        }
        let mut st = stats.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Outcome::NotC | Outcome::Excluded | Outcome::Skip(_) => {}
            Outcome::Filtered(b) => {
                st.files_seen += 1;
                st.bytes_read += b;
            }
            Outcome::MacroUser(b, src) => {
                st.files_seen += 1;
                st.bytes_read += b;
                drop(st);
                macro_users
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((display_path(path), src));
            }
            Outcome::Candidate(b, src, rules) => {
                st.files_seen += 1;
                st.bytes_read += b;
                drop(st);
                candidates.lock().unwrap_or_else(|e| e.into_inner()).push((
                    display_path(path),
                    src,
                    rules,
                ));
            }
        }
    };

    let is_c = |p: &Path| p.extension().is_some_and(|e| e == "c" || e == "h");
    for root in paths {
        if root.is_file() {
            if is_c(root) {
                handle(root);
            } else {
                skip(root, SkipReason::NotC);
            }
            continue;
        }
        if !root.is_dir() {
            skip(root, SkipReason::Special);
            continue;
        }
        let walker = ignore::WalkBuilder::new(root)
            .standard_filters(false)
            .hidden(true)
            .follow_links(false)
            .threads(rayon::current_num_threads())
            .build_parallel();
        walker.run(|| {
            Box::new(|entry| {
                match entry {
                    Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => handle(e.path()),
                    Ok(e) if e.file_type().is_some_and(|t| !t.is_dir()) && is_c(e.path()) => {
                        skip(e.path(), SkipReason::Special)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let path = match &e {
                            ignore::Error::WithPath { path, .. } => path.clone(),
                            _ => PathBuf::from(e.to_string()),
                        };
                        skip(&path, SkipReason::Unreadable)
                    }
                }
                ignore::WalkState::Continue
            })
        });
    }
    progress(seen.load(Ordering::Relaxed));

    let mut candidates = candidates.into_inner().unwrap_or_else(|e| e.into_inner());
    let header_macros = header_gfp_macros(&candidates);
    for (path, src) in macro_users.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let mut rules: Vec<Rule> = Vec::new();
        for (name, body) in &header_macros {
            if crate::syntax::has_word(&src, name) {
                rules.extend(prefilter.rules_for(body.as_bytes()));
            }
        }
        rules.sort();
        rules.dedup();
        if !rules.is_empty() {
            candidates.push((path, src, rules));
        }
    }
    let interp = indexing.then(|| {
        let mut per_file = file_indexes
            .files
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        if !full {
            let rest = file_indexes
                .rest
                .into_inner()
                .unwrap_or_else(|e| e.into_inner());
            let more = index_namers(rest, opts.max_file_size, &per_file, &candidates, &prefilter);
            per_file.extend(more);
        }
        let mut ip = Interproc::new(Index::build(per_file), facts, header_macros.clone());
        crate::reach::extra_candidates(&mut ip, &opts.rules, &mut candidates);
        ip
    });
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let mut stats = stats.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut skipped = skipped.into_inner().unwrap_or_else(|e| e.into_inner());
    stats.files_parsed = candidates.len();
    // Each file is analysed on its own: a panic in one (a bug of ours on
    // input nobody foresaw) skips that file, counted, and the scan goes on.
    let per_file: Vec<Result<FileResult, SkipReason>> = candidates
        .par_iter()
        .map_init(c_parser, |parser, (path, src, rules)| {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                analyze_file(
                    parser,
                    path,
                    src,
                    rules,
                    facts,
                    &header_macros,
                    interp.as_ref(),
                )
            }));
            let a = match run {
                Ok(a) => a,
                Err(_) => {
                    *parser = c_parser();
                    return Err(SkipReason::Failed);
                }
            };
            // A header without functions is normal (macros, types); a .c
            // file the parser made nothing of is worth saying.
            if a.unparsable && path.ends_with(".c") {
                return Err(SkipReason::Unparsable);
            }
            let mut f = a.findings;
            let before = f.len();
            let marks = Suppressions::new(src);
            f.retain(|x| !marks.suppresses(x.line, x.rule));
            let suppressed = before - f.len();
            Ok((f, suppressed, a.too_deep, a.costly))
        })
        .collect();
    let mut findings = Vec::new();
    for (r, (path, _, _)) in per_file.into_iter().zip(&candidates) {
        match r {
            Ok((f, s, deep, costly)) => {
                findings.extend(f);
                stats.suppressed += s;
                stats.skipped_deep_functions += deep;
                stats.skipped_costly_regions += costly;
            }
            Err(reason) => {
                stats.files_parsed -= 1;
                stats.count(reason);
                skipped.push(Skipped {
                    file: path.clone(),
                    reason,
                });
            }
        }
    }
    // The index, the parsed functions and the sources are a gigabyte of
    // small allocations: free them on another thread (a process that
    // exits after the report does not wait for it). If no thread can be
    // started, the failed spawn drops them here.
    let _ = std::thread::Builder::new()
        .name("scan-free".into())
        .spawn(move || drop((interp, candidates)));
    skipped.sort();
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    findings.dedup();
    Ok(ScanReport {
        kernel_version: version.map(|v| format!("{}.{}", v.major, v.minor)),
        findings,
        stats,
        rules: opts.rules.clone(),
        skipped,
    })
}

fn build_globs(pats: &[String]) -> Result<GlobSet, ScanError> {
    let mut b = GlobSetBuilder::new();
    for p in pats {
        let g =
            Glob::new(p).map_err(|e| ScanError::BadGlob(format!("--exclude {p}: error: {e}")))?;
        b.add(g);
    }
    b.build()
        .map_err(|e| ScanError::BadGlob(format!("--exclude: error: {e}")))
}

/// The path as walked, without a leading `./`.
fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

fn read_and_filter(
    path: &Path,
    excludes: &GlobSet,
    prefilter: &Prefilter,
    max: u64,
    index_sink: Option<&IndexSink>,
) -> Outcome {
    let is_c = path.extension().is_some_and(|e| e == "c" || e == "h");
    if !is_c {
        return Outcome::NotC;
    }
    let shown = display_path(path);
    if !excludes.is_empty() && (excludes.is_match(&shown) || excludes.is_match(path)) {
        return Outcome::Excluded;
    }
    let Ok(mut file) = std::fs::File::open(path) else {
        return Outcome::Skip(SkipReason::Unreadable);
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max {
        return Outcome::Skip(SkipReason::Huge);
    }
    // One reused buffer per thread: most files are read, searched and
    // dropped, so fresh allocations (and their page faults) are waste.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(|bytes| {
        bytes.clear();
        // `take`: a file that grows while read stays under the cap.
        if (&mut file).take(max + 1).read_to_end(bytes).is_err() {
            return Outcome::Skip(SkipReason::Unreadable);
        }
        if bytes.len() as u64 > max {
            return Outcome::Skip(SkipReason::Huge);
        }
        let out = classify_bytes(bytes, prefilter, path.extension().is_some_and(|e| e == "c"));
        if let Some(sink) = index_sink
            && (sink.full || matches!(out, Outcome::Candidate(..) | Outcome::MacroUser(..)))
            && !matches!(out, Outcome::Skip(_))
        {
            let fi = index_file(bytes);
            sink.files
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((shown.clone(), fi));
        } else if let Some(sink) = index_sink
            && matches!(out, Outcome::Filtered(_))
        {
            sink.rest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(path.to_path_buf());
        }
        out
    })
}

/// Where the first pass puts per-file indexes; `full`: every C file, else
/// only the candidates, and `rest` lists the other readable C files for
/// [`index_namers`] (so it reads files again but does not walk the tree).
struct IndexSink {
    full: bool,
    files: Mutex<Vec<(String, FileIndex)>>,
    rest: Mutex<Vec<PathBuf>>,
}

/// The second pass of a partial index: every C file not yet indexed that
/// names a function a candidate file defines for other files (not
/// `static`, or in a header) and whose body spells a rule token is
/// tokenized too, so the callers of a wrapper (`bpf_map_area_alloc`) or a
/// mask helper (`massage_gfp_flags`) are known.
fn index_namers(
    rest: Vec<PathBuf>,
    max: u64,
    have: &[(String, FileIndex)],
    candidates: &[(String, String, Vec<Rule>)],
    prefilter: &Prefilter,
) -> Vec<(String, FileIndex)> {
    let sources: std::collections::HashMap<&str, &str> = candidates
        .iter()
        .map(|c| (c.0.as_str(), c.1.as_str()))
        .collect();
    let mut names: Vec<&str> = have
        .iter()
        .filter_map(|(p, f)| Some((p, f, *sources.get(p.as_str())?)))
        .flat_map(|(p, f, src)| {
            let header = p.ends_with(".h");
            f.defs
                .iter()
                .filter(move |d| header || !d.ret.contains("static"))
                .filter(move |d| {
                    let body = src
                        .as_bytes()
                        .get(d.decl_start as usize..d.body_end as usize)
                        .unwrap_or(b"");
                    !prefilter.rules_for(body).is_empty()
                })
                .map(|d| d.name.as_str())
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Vec::new();
    }
    // Few names: the SIMD (Teddy) searcher runs near memchr speed; many: a DFA.
    let packed = aho_corasick::packed::Searcher::new(names.iter());
    let Ok(ac) = aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .prefilter(false)
        .build(&names)
    else {
        return Vec::new();
    };
    let is_match = |b: &[u8]| match &packed {
        Some(p) => p.find(b).is_some(),
        None => ac.is_match(b),
    };
    // The first pass already skipped binary, huge and unreadable files.
    rest.par_iter()
        .filter_map(|path| {
            thread_local! {
                static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            BUF.with_borrow_mut(|bytes| {
                bytes.clear();
                let file = std::fs::File::open(path).ok()?;
                file.take(max + 1).read_to_end(bytes).ok()?;
                is_match(bytes).then(|| (display_path(path), index_file(bytes)))
            })
        })
        .collect()
}

/// `is_dot_c`: an empty `.c` file is reported; an empty header is normal.
fn classify_bytes(bytes: &[u8], prefilter: &Prefilter, is_dot_c: bool) -> Outcome {
    let head = &bytes[..bytes.len().min(8192)];
    if memchr::memchr(0, head).is_some() {
        return Outcome::Skip(SkipReason::Binary);
    }
    if is_dot_c && bytes.iter().all(u8::is_ascii_whitespace) {
        return Outcome::Skip(SkipReason::Empty);
    }
    let n = bytes.len() as u64;
    let rules = prefilter.rules_for(bytes);
    if rules.is_empty() {
        if !uses_named_gfp_macro(bytes) {
            return Outcome::Filtered(n);
        }
        return match std::str::from_utf8(bytes) {
            Ok(s) => Outcome::MacroUser(n, s.to_string()),
            Err(_) => Outcome::Filtered(n),
        };
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Outcome::Candidate(n, s.to_string(), rules),
        Err(_) => Outcome::Skip(SkipReason::NonUtf8),
    }
}

/// Does the file mention a macro named like `KEXEC_CONTROL_MEMORY_GFP` or
/// `XPRTRDMA_GFP_FLAGS` (a gfp mask defined elsewhere)?
fn uses_named_gfp_macro(bytes: &[u8]) -> bool {
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    memchr::memmem::find_iter(bytes, b"_GFP").any(|i| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 4).copied();
        before.is_some_and(|c| c.is_ascii_alphanumeric())
            && (after.is_none_or(|c| !ident(c)) || bytes[i + 4..].starts_with(b"_FLAGS"))
    })
}

/// Object-like `#define`s of the candidate headers whose body names a gfp
/// flag: masks that other files use by name. Architecture headers only
/// count when no generic header defines the name (the scan reads the tree
/// as the generic kernel: include/linux/kexec.h's default, not s390's
/// override); a name still defined with different bodies is ambiguous and
/// dropped.
fn header_gfp_macros(candidates: &[(String, String, Vec<Rule>)]) -> HashMap<String, String> {
    // name -> (from arch/, body or None when ambiguous)
    let mut out: HashMap<String, (bool, Option<String>)> = HashMap::new();
    let mut headers: Vec<&(String, String, Vec<Rule>)> =
        candidates.iter().filter(|c| c.0.ends_with(".h")).collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, src, _) in headers {
        let arch = path.starts_with("arch/") || path.contains("/arch/");
        for (name, value) in crate::analyze::textual_defines(src) {
            if !value.contains("GFP_") {
                continue;
            }
            match out.get_mut(&name) {
                None => {
                    out.insert(name, (arch, Some(value)));
                }
                Some(slot) => {
                    if slot.0 && !arch {
                        *slot = (false, Some(value));
                    } else if slot.0 == arch && slot.1.as_deref() != Some(value.as_str()) {
                        slot.1 = None;
                    }
                }
            }
        }
    }
    out.into_iter()
        .filter_map(|(k, (_, v))| v.map(|v| (k, v)))
        .collect()
}
