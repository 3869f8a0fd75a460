//! Per-file analysis: parse with tree-sitter-c, index each function's
//! calls, writes, exits and memalloc scopes, then run the rules.

use crate::finding::Finding;
use crate::gfpeval::{Def, DefOp, Evaluator, back_edges};
use crate::rule::Rule;
use crate::rules;
use crate::syntax::{
    LineIndex, call_args, call_name, collapse_ws, collect, declarator_name, function_name, squash,
    text, value_parent,
};
use reclaimscope_model::gfp::GfpValue;
use reclaimscope_model::task::{Scope, TaskFlags, current_gfp_context, memalloc_save};
use std::collections::{HashMap, HashSet};
use tree_sitter::{Node, Parser, Tree};

mod func;
mod regions;

pub use regions::regions;

/// What the rules need to know about the target kernel.
#[derive(Clone, Copy, Debug)]
pub struct KernelFacts {
    /// `__vmalloc` honours GFP_NOFS/GFP_NOIO (v5.17+, `history::vmalloc_honours_gfp`).
    pub vmalloc_honours_gfp: bool,
    /// `kvmalloc` falls back to vmalloc for non-GFP_KERNEL masks (v5.17+).
    pub kvmalloc_any_gfp: bool,
}

/// A new parser for C; one per thread.
pub fn c_parser() -> Parser {
    let mut p = Parser::new();
    // The grammar is compiled in; a version mismatch is a build error, not input.
    p.set_language(&tree_sitter_c::LANGUAGE.into())
        .expect("tree-sitter-c matches the tree-sitter ABI");
    p
}

/// Memalloc scope kinds, as `memalloc_<kind>_save`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    Nofs,
    Noio,
    Noreclaim,
    Pin,
}

impl ScopeKind {
    fn parse(name: &str) -> Option<(ScopeKind, bool)> {
        let rest = name.strip_prefix("memalloc_")?;
        let (kind, op) = rest.split_once('_')?;
        let kind = match kind {
            "nofs" => ScopeKind::Nofs,
            "noio" => ScopeKind::Noio,
            "noreclaim" => ScopeKind::Noreclaim,
            "pin" => ScopeKind::Pin,
            _ => return None,
        };
        match op {
            "save" => Some((kind, true)),
            "restore" => Some((kind, false)),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ScopeKind::Nofs => "nofs",
            ScopeKind::Noio => "noio",
            ScopeKind::Noreclaim => "noreclaim",
            ScopeKind::Pin => "pin",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ScopeCall<'t> {
    pub kind: ScopeKind,
    pub call: Node<'t>,
    /// Where the saved flags live (`nofs_flag`, `tp->t_pflags`), whitespace-free.
    pub var: Option<String>,
    /// The variable is a plain local identifier (a scope the function owns).
    pub local: bool,
    /// The scope is opened or closed by this called function (its summary
    /// says so: `xfs_trans_alloc`, `xfs_trans_commit`), not by memalloc_*.
    pub via: Option<String>,
}

/// A call that passes a gfp mask.
#[derive(Clone, Debug)]
pub struct AllocCall<'t> {
    pub call: Node<'t>,
    pub name: String,
    pub gfp_arg: Node<'t>,
    /// The mask as written, resolved through locals and defines.
    pub mask: GfpValue,
    /// What the allocator sees: `mask` after the memalloc scopes open at
    /// the call in this function (`current_gfp_context`).
    pub effective: GfpValue,
}

/// Everything the rules look at inside one function.
pub struct Func<'a, 't> {
    pub name: String,
    pub body: Node<'t>,
    /// The parsed region's text; node offsets index into it.
    pub src: &'a str,
    /// Lines before the region, added to every reported line.
    pub line_offset: usize,
    /// Newlines of `src`, shared by every function of the region; empty
    /// means "count from the start" (a function indexed on its own).
    pub lines: &'a LineIndex,
    pub eval: Evaluator<'a, 't>,
    pub gfp_typed: HashSet<String>,
    pub allocs: Vec<AllocCall<'t>>,
    pub all_calls: Vec<Node<'t>>,
    pub returns: Vec<Node<'t>>,
    pub gotos: Vec<(Node<'t>, String)>,
    pub labels: HashMap<String, Node<'t>>,
    pub saves: Vec<ScopeCall<'t>>,
    pub restores: Vec<ScopeCall<'t>>,
}

/// File-level facts: `#define`s and shrinker callbacks.
pub struct FileCtx<'a> {
    pub path: &'a str,
    /// Shared: a summary question builds a `FileCtx` per function asked.
    pub defines: std::sync::Arc<HashMap<String, String>>,
    pub scan_objects_fns: HashSet<String>,
    pub facts: KernelFacts,
    /// The whole-tree index and summaries, when a tree was indexed.
    pub interp: Option<&'a crate::summary::Interproc>,
}

/// Analyse one file; findings are unsorted and unsuppressed.
/// `header_macros` are gfp masks `#define`d in scanned headers; the file's
/// own defines take precedence. Only the top-level constructs around the
/// tokens the rules need are parsed (see [`regions`]).
pub fn analyze_source(
    parser: &mut Parser,
    path: &str,
    src: &str,
    rules: &[Rule],
    facts: KernelFacts,
    header_macros: &HashMap<String, String>,
    interp: Option<&crate::summary::Interproc>,
) -> Vec<Finding> {
    analyze_file(parser, path, src, rules, facts, header_macros, interp).findings
}

/// What [`analyze_file`] found besides findings: whether the parser
/// could make anything of the file.
pub struct FileAnalysis {
    pub findings: Vec<Finding>,
    /// Regions were parsed but held no function and had syntax errors.
    pub unparsable: bool,
    /// Functions not analysed because their syntax tree nests deeper than
    /// [`MAX_FUNCTION_NESTING`].
    pub too_deep: usize,
    /// Regions whose parse went past the step budget and was abandoned
    /// (see [`BYTES_PER_PARSE_STEP`]).
    pub costly: usize,
}

/// The parse of a region may take one tree-sitter progress step (about
/// 100 parser operations) per this many bytes, plus [`PARSE_STEP_FLOOR`].
/// linux-source-6.1 needs at most one step per 62 bytes and 423 steps in
/// any region (`--rule all`, 2,354 regions); a fuzzed 53 KB file (an
/// unterminated string before 6,588 unclosed `vmalloc(`) took one step per
/// byte while tree-sitter's error recovery allocated 23 GB. Counting
/// steps, not time, keeps the cut-off deterministic.
pub const BYTES_PER_PARSE_STEP: usize = 16;
pub const PARSE_STEP_FLOOR: usize = 1_000;

/// Parse `text`, abandoning it (`None`) past the step budget.
fn parse_bounded(parser: &mut Parser, text: &str) -> Option<Tree> {
    let budget = text.len() / BYTES_PER_PARSE_STEP + PARSE_STEP_FLOOR;
    let mut steps = 0usize;
    let mut progress = |_: &tree_sitter::ParseState| {
        steps += 1;
        if steps > budget {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    };
    let bytes = text.as_bytes();
    let tree = parser.parse_with_options(
        &mut |i, _| bytes.get(i..).unwrap_or_default(),
        None,
        Some(tree_sitter::ParseOptions::new().progress_callback(&mut progress)),
    );
    // A cancelled parse leaves state behind; the next parse starts afresh.
    if tree.is_none() {
        parser.reset();
    }
    tree
}

/// Syntax-tree depth past which a function is skipped (and counted).
/// tree-sitter finds a node's parent by walking down from the root, so the
/// rules' walks up the tree cost depth squared; kernel functions nest a few
/// dozen levels, hostile ones (100,000 nested blocks) would take hours.
pub const MAX_FUNCTION_NESTING: usize = 1000;

/// Does the tree under `root` nest deeper than `limit` below it?
fn deeper_than(root: Node<'_>, limit: usize) -> bool {
    let mut cursor = root.walk();
    let mut depth = 0usize;
    loop {
        if cursor.goto_first_child() {
            depth += 1;
            if depth > limit {
                return true;
            }
            continue;
        }
        loop {
            if depth == 0 {
                return false;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            cursor.goto_parent();
            depth -= 1;
        }
    }
}

/// [`analyze_source`], also saying whether the file parsed. Code under
/// `#if 0` is blanked first (never compiled, so never reported).
pub fn analyze_file(
    parser: &mut Parser,
    path: &str,
    src: &str,
    rules: &[Rule],
    facts: KernelFacts,
    header_macros: &HashMap<String, String>,
    interp: Option<&crate::summary::Interproc>,
) -> FileAnalysis {
    let live = crate::recover::blank_if0(src);
    let src: &str = &live;
    let mut defines = header_macros.clone();
    for (name, body) in textual_defines(src) {
        defines.insert(name, body);
    }
    let mut tokens = hit_tokens(rules, &defines);
    if let Some(ip) = interp {
        tokens.extend(ip.extra_tokens(path).iter().cloned());
    }
    let mut parsed: Vec<(Tree, usize, usize)> = Vec::new();
    let file_lines = LineIndex::new(src);
    let mut costly = 0;
    for r in regions(src, &tokens) {
        let offset = file_lines.lines_before(r.start);
        match parse_bounded(parser, &src[r.clone()]) {
            Some(tree) => parsed.push((tree, r.start, offset)),
            None => costly += 1,
        }
    }
    let region_lines: Vec<LineIndex> = parsed
        .iter()
        .map(|(tree, start, _)| LineIndex::new(region_src(src, *start, tree)))
        .collect();
    // File-wide facts first: shrinker callbacks may be registered in one
    // region and defined in another.
    let mut scan_objects_fns = HashSet::new();
    let mut functions = Vec::new();
    for (i, (tree, start, _)) in parsed.iter().enumerate() {
        let rsrc = region_src(src, *start, tree);
        // K&R bodies: top-level blocks tree-sitter left unattached.
        let mut c = tree.root_node().walk();
        let top: Vec<Node<'_>> = tree.root_node().named_children(&mut c).collect();
        for b in top.into_iter().filter(|b| b.kind() == "compound_statement") {
            if let Some((head, name)) = crate::recover::kr_head(b, rsrc) {
                functions.push((i, head, Some(b), name));
            }
        }
        for n in collect(tree.root_node(), |n| {
            matches!(
                n.kind(),
                "function_definition" | "initializer_pair" | "assignment_expression"
            )
        }) {
            if n.kind() == "function_definition" {
                functions.push((i, n, None, None));
            } else if let Some(f) = shrinker_callback(n, rsrc) {
                scan_objects_fns.insert(f);
            }
        }
    }
    let file = FileCtx {
        path,
        defines: std::sync::Arc::new(defines),
        scan_objects_fns,
        facts,
        interp,
    };
    let mut out = Vec::new();
    let unparsable = functions.is_empty() && parsed.iter().any(|p| p.0.root_node().has_error());
    let mut too_deep = 0;
    for (i, f, kr_body, kr_name) in functions {
        let (tree, start, offset) = &parsed[i];
        let Some(body) = kr_body.or_else(|| f.child_by_field_name("body")) else {
            continue;
        };
        if deeper_than(body, MAX_FUNCTION_NESTING) {
            too_deep += 1;
            continue;
        }
        let mut func = index_function(&file, region_src(src, *start, tree), *offset, f, body);
        func.lines = &region_lines[i];
        if let Some(name) = kr_name {
            func.name = name;
        }
        rules::run(&file, &func, rules, &mut out);
    }
    FileAnalysis {
        findings: out,
        unparsable,
        too_deep,
        costly,
    }
}

fn region_src<'s>(src: &'s str, start: usize, tree: &Tree) -> &'s str {
    src.get(start..start + tree.root_node().end_byte())
        .unwrap_or("")
}

/// Tokens whose occurrences mark code a rule must see: the rules' own
/// tokens, and the names of macros whose bodies contain them.
fn hit_tokens(rules: &[Rule], defines: &HashMap<String, String>) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for r in rules {
        for group in r.required_tokens() {
            for t in *group {
                if !tokens.iter().any(|x| x == t) {
                    tokens.push((*t).to_string());
                }
            }
        }
    }
    // Macros of macros: iterate to a fixed point (bounded by the define count).
    loop {
        let before = tokens.len();
        for (name, body) in defines {
            if !tokens.contains(name) && tokens.iter().any(|t| body.contains(t.as_str())) {
                tokens.push(name.clone());
            }
        }
        if tokens.len() == before {
            return tokens;
        }
    }
}

/// Object-like `#define NAME BODY` lines (continuations joined, comments dropped).
pub(crate) fn textual_defines(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = src.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("#define") else {
            continue;
        };
        let mut body = rest.to_string();
        while body.trim_end().ends_with('\\') {
            body = body.trim_end().trim_end_matches('\\').to_string();
            body.push(' ');
            body.push_str(lines.next().unwrap_or(""));
        }
        let body = body.trim_start();
        let name_end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, value) = body.split_at(name_end);
        if name.is_empty() || value.starts_with('(') {
            continue; // function-like macro: `(` right after the name
        }
        out.push((name.to_string(), clean_define(value)));
    }
    out
}

/// `.scan_objects = fn` or `x->scan_objects = fn` names a shrinker callback.
fn shrinker_callback(n: Node<'_>, src: &str) -> Option<String> {
    let (target, value) = match n.kind() {
        "initializer_pair" => (
            n.child_by_field_name("designator")?,
            n.child_by_field_name("value")?,
        ),
        _ => (
            n.child_by_field_name("left")?,
            n.child_by_field_name("right")?,
        ),
    };
    let target = text(target, src);
    let is_scan = target.ends_with("scan_objects")
        && !target.ends_with("_scan_objects")
        && (target.starts_with('.') || target.contains("->") || target.contains('.'));
    (is_scan && value.kind() == "identifier").then(|| text(value, src).to_string())
}

/// A `#define` body as an expression: no comments, no line continuations.
pub(crate) fn clean_define(body: &str) -> String {
    let mut s = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("/*") {
        s.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
        s.push(' ');
    }
    s.push_str(rest);
    if let Some(i) = s.find("//") {
        s.truncate(i);
    }
    collapse_ws(&s)
}

static EMPTY_LINES: LineIndex = LineIndex::EMPTY;

fn index_function<'a, 't>(
    file: &'a FileCtx<'a>,
    src: &'a str,
    line_offset: usize,
    node: Node<'t>,
    body: Node<'t>,
) -> Func<'a, 't> {
    index_function_core(file, src, line_offset, node, body, None, 0, true)
}

/// [`index_function`] for a summary: `bindings` are the parameter values
/// at the call being summarised (`None`: the values callers pass), `depth`
/// the call depth of the question.
/// `full`: also classify every call (scopes, allocations and their masks);
/// without it only the evaluator, calls and returns are ready, which is
/// all a question about one argument or the returned value needs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn index_function_core<'a, 't>(
    file: &'a FileCtx<'a>,
    src: &'a str,
    line_offset: usize,
    node: Node<'t>,
    body: Node<'t>,
    bindings: Option<Vec<GfpValue>>,
    depth: u32,
    full: bool,
) -> Func<'a, 't> {
    let mut gfp_typed = HashSet::new();
    let mut param_names = Vec::new();
    let mut defs: HashMap<String, Vec<Def<'t>>> = HashMap::new();
    if let Some(params) = node.child_by_field_name("declarator").and_then(find_params) {
        for p in collect(params, |n| n.kind() == "parameter_declaration") {
            let name = p
                .child_by_field_name("declarator")
                .and_then(|d| declarator_name(d, src));
            param_names.push(name.unwrap_or("").to_string());
            if is_gfp_type(p, src)
                && let Some(name) = name
            {
                gfp_typed.insert(name.to_string());
            }
        }
    }
    static FUNC_NODES: std::sync::OnceLock<crate::syntax::KindSet> = std::sync::OnceLock::new();
    let kinds = FUNC_NODES.get_or_init(|| {
        crate::syntax::KindSet::named(&[
            "declaration",
            "assignment_expression",
            "call_expression",
            "return_statement",
            "goto_statement",
            "labeled_statement",
        ])
    });
    let nodes = collect(body, |n| kinds.contains(n));
    let mut all_calls = Vec::new();
    let mut returns = Vec::new();
    let mut gotos = Vec::new();
    let mut labels = HashMap::new();
    for n in &nodes {
        match n.kind() {
            "declaration" => {
                let typed = is_gfp_type(*n, src);
                let mut c = n.walk();
                for d in n.children_by_field_name("declarator", &mut c) {
                    let name = declarator_name(d, src).unwrap_or("").to_string();
                    if typed {
                        gfp_typed.insert(name.clone());
                    }
                    if d.kind() == "init_declarator"
                        && let Some(v) = d.child_by_field_name("value")
                    {
                        defs.entry(name).or_default().push(Def {
                            var_start: d.start_byte(),
                            node: d,
                            op: DefOp::Set,
                            rhs: v,
                        });
                    }
                }
            }
            "assignment_expression" => {
                let (Some(l), Some(op), Some(r)) = (
                    n.child_by_field_name("left"),
                    n.child_by_field_name("operator"),
                    n.child_by_field_name("right"),
                ) else {
                    continue;
                };
                if l.kind() != "identifier" {
                    continue;
                }
                let op = match text(op, src) {
                    "=" => DefOp::Set,
                    "|=" => DefOp::Or,
                    "&=" => DefOp::And,
                    _ => continue,
                };
                defs.entry(text(l, src).to_string()).or_default().push(Def {
                    var_start: n.start_byte(),
                    node: *n,
                    op,
                    rhs: r,
                });
            }
            "call_expression" => all_calls.push(*n),
            "return_statement" => returns.push(*n),
            "goto_statement" => {
                if let Some(l) = n.child_by_field_name("label") {
                    gotos.push((*n, text(l, src).to_string()));
                }
            }
            _ => {
                if let Some(l) = n.child_by_field_name("label") {
                    labels.insert(text(l, src).to_string(), *n);
                }
            }
        }
    }
    let fname = function_name(node, src);
    let ext = file.interp.map(|ip| crate::gfpeval::Ext {
        resolver: ip,
        file: file.path,
        func: fname.clone(),
        params: param_names,
        bindings,
        depth,
    });
    let eval = Evaluator {
        src,
        ext,
        defines: &file.defines,
        defs,
        body,
        back_edges: back_edges(&nodes, &gotos, src),
    };
    let mut func = Func {
        name: fname,
        body,
        src,
        line_offset,
        lines: &EMPTY_LINES,
        eval,
        gfp_typed,
        allocs: Vec::new(),
        all_calls,
        returns,
        gotos,
        labels,
        saves: Vec::new(),
        restores: Vec::new(),
    };
    if !full {
        return func;
    }
    for &call in &func.all_calls {
        let Some(name) = call_name(call, src) else {
            continue;
        };
        if let Some((kind, is_save)) = ScopeKind::parse(name) {
            let sc = scope_call(call, kind, is_save, src);
            if is_save {
                func.saves.push(sc);
            } else {
                func.restores.push(sc);
            }
            continue;
        }
        if is_mask_helper(name) {
            continue;
        }
        // A call whose summary opens or closes a scope (xfs_trans_alloc,
        // xfs_trans_commit, jbd2__journal_start, jbd2_journal_stop).
        if let Some(ip) = file.interp
            && let Some(eff) = ip.callee_scope_effect(name, file.path, depth + 1)
        {
            let sc = |kind| ScopeCall {
                kind,
                call,
                var: None,
                local: false,
                via: Some(name.to_string()),
            };
            if let Some(k) = eff.closes {
                func.restores.push(sc(k));
            }
            if let Some(k) = eff.opens {
                func.saves.push(sc(k));
            }
        }
        if let Some(arg) = call_args(call).into_iter().find(|a| func.is_gfp_arg(*a)) {
            let mask = func.eval.eval(arg);
            func.allocs.push(AllocCall {
                call,
                name: name.to_string(),
                gfp_arg: arg,
                mask,
                effective: mask,
            });
        }
    }
    for k in 0..func.allocs.len() {
        let task = scope_flags(&func.open_scopes_at(func.allocs[k].call.start_byte()));
        let m = func.allocs[k].mask;
        func.allocs[k].effective = GfpValue {
            must: current_gfp_context(task, m.must),
            may: current_gfp_context(task, m.may),
        };
    }
    func
}

fn find_params(d: Node<'_>) -> Option<Node<'_>> {
    let mut n = Some(d);
    while let Some(x) = n {
        if x.kind() == "function_declarator" {
            return x.child_by_field_name("parameters");
        }
        n = x.child_by_field_name("declarator");
    }
    None
}

fn is_gfp_type(decl: Node<'_>, src: &str) -> bool {
    decl.child_by_field_name("type")
        .is_some_and(|t| text(t, src) == "gfp_t")
}

fn scope_call<'t>(call: Node<'t>, kind: ScopeKind, is_save: bool, src: &str) -> ScopeCall<'t> {
    let var_node = if is_save {
        value_parent(call).and_then(|p| match p.kind() {
            "assignment_expression" => p.child_by_field_name("left"),
            "init_declarator" => p.child_by_field_name("declarator"),
            _ => None,
        })
    } else {
        call_args(call).into_iter().next()
    };
    let local = var_node.is_some_and(|v| v.kind() == "identifier");
    ScopeCall {
        kind,
        call,
        var: var_node.map(|v| squash(text(v, src))),
        local,
        via: None,
    }
}

/// Task flags of the given open scopes, as the model's memalloc_*_save set them.
fn scope_flags(open: &[&ScopeCall<'_>]) -> TaskFlags {
    let mut task = TaskFlags(0);
    for s in open {
        let scope = match s.kind {
            ScopeKind::Nofs => Scope::Nofs,
            ScopeKind::Noio => Scope::Noio,
            ScopeKind::Noreclaim => Scope::Noreclaim,
            ScopeKind::Pin => Scope::Pin,
        };
        memalloc_save(&mut task, scope);
    }
    task
}

/// Calls that compute, test or record a mask rather than allocate with it.
fn is_mask_helper(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("gfp")
        || lower.starts_with("warn")
        || lower.starts_with("bug")
        || lower.starts_with("trace")
        || lower.starts_with("pr_")
        || lower.contains("printk")
        || matches!(
            name,
            "dev_err"
                | "dev_warn"
                | "dev_info"
                | "dev_dbg"
                | "might_alloc"
                | "fs_reclaim_acquire"
                | "fs_reclaim_release"
        )
        || lower.starts_with("memalloc_")
        || lower == "sizeof"
}

#[cfg(test)]
mod tests {
    use super::regions::brace_balance;
    use super::*;

    fn region_texts(src: &str, tok: &str) -> Vec<String> {
        regions(src, &[tok.to_string()])
            .into_iter()
            .map(|r| src[r].to_string())
            .collect()
    }

    #[test]
    fn region_is_the_enclosing_top_level_function() {
        let src = "int a(void)\n{\n\treturn 0;\n}\n\nint b(void)\n{\n\treturn HIT;\n}\nint c(void)\n{\n}\n";
        assert_eq!(
            region_texts(src, "HIT"),
            vec!["\nint b(void)\n{\n\treturn HIT;\n}\n".to_string()]
        );
    }

    #[test]
    fn misindented_brace_does_not_split_a_function() {
        // fs/btrfs/volumes.c in 6.1 closes an `if` block in column 0.
        let src =
            "int f(void)\n{\n\tif (x) {\n\t\tgoto out;\n}\n\tp = HIT;\nout:\n\treturn 0;\n}\n";
        assert_eq!(region_texts(src, "HIT"), vec![src.to_string()]);
    }

    #[test]
    fn braces_in_comments_and_strings_do_not_count() {
        assert_eq!(brace_balance(b"/* { */ \"{\" '{' // {\n{}"), 0);
    }
}
