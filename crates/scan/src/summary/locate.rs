//! Finding nodes in a parsed function: its definition, the call at a byte
//! offset, and whether a way out lies under a test of an opener's result.
use crate::analyze::Func;
use crate::syntax::collect;
use tree_sitter::{Node, Tree};

/// The function definition node of a parsed region.
pub fn function_node(tree: &Tree) -> Option<Node<'_>> {
    let root = tree.root_node();
    let mut c = root.walk();
    let top = root
        .named_children(&mut c)
        .find(|n| n.kind() == "function_definition" && n.child_by_field_name("body").is_some());
    top.or_else(|| {
        collect(root, |n| n.kind() == "function_definition")
            .into_iter()
            .find(|n| n.child_by_field_name("body").is_some())
    })
}

/// Is the exit at byte `exit` under a test of what the opening call
/// returned (`if (IS_ERR(handle)) { ...; return error; }` in
/// ext4_expand_extra_isize())? Then the open failed on that way out.
pub(super) fn failed_open(call: Node<'_>, exit: usize, func: &Func<'_, '_>) -> bool {
    let src = func.src;
    let Some(p) = crate::syntax::value_parent(call) else {
        return false;
    };
    let var = match p.kind() {
        "assignment_expression" => p
            .child_by_field_name("left")
            .map(|l| crate::syntax::text(l, src).to_string()),
        "init_declarator" => p
            .child_by_field_name("declarator")
            .and_then(|d| crate::syntax::declarator_name(d, src))
            .map(str::to_string),
        _ => None,
    };
    let Some(var) = var else { return false };
    collect(func.body, |n| {
        n.kind() == "if_statement"
            && n.start_byte() > call.end_byte()
            && n.start_byte() < exit
            && exit <= n.end_byte()
    })
    .into_iter()
    .any(|i| {
        i.child_by_field_name("condition")
            .is_some_and(|c| crate::syntax::has_word(crate::syntax::text(c, src), &var))
    })
}

/// Does the statement holding `n` run on the way to the exit at byte
/// `exit`: every branch or loop around it also holds the exit?
pub(super) fn reaches(n: Node<'_>, body: Node<'_>, exit: usize) -> bool {
    let mut cur = n;
    while let Some(p) = cur.parent() {
        if p.id() == body.id() {
            return true;
        }
        let branchy = matches!(
            p.kind(),
            "compound_statement"
                | "if_statement"
                | "for_statement"
                | "while_statement"
                | "do_statement"
                | "switch_statement"
                | "case_statement"
                | "conditional_expression"
        );
        if branchy && !(p.start_byte() <= exit && exit <= p.end_byte()) {
            return false;
        }
        cur = p;
    }
    true
}

/// Where a call's callee name starts: the field of `x->f(...)`, else the
/// call's start (what the index records as the call's offset).
pub(super) fn callee_pos(call: Node<'_>) -> usize {
    match call.child_by_field_name("function") {
        Some(f) if f.kind() == "field_expression" => f
            .child_by_field_name("field")
            .map_or(call.start_byte(), |n| n.start_byte()),
        Some(f) => f.start_byte(),
        None => call.start_byte(),
    }
}

/// The call expression whose function name starts at byte `pos` of the region.
pub fn call_at<'t>(func: &Func<'_, 't>, pos: usize) -> Option<Node<'t>> {
    func.all_calls.iter().copied().find(|c| {
        c.child_by_field_name("function").is_some_and(|f| {
            let f = match f.kind() {
                "field_expression" => f.child_by_field_name("field").unwrap_or(f),
                _ => f,
            };
            f.start_byte() == pos
        })
    })
}
