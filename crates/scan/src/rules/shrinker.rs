//! `shrinker-io-gate`: a shrinker's `scan_objects` that gates blocking work
//! on `__GFP_IO` alone.

use crate::analyze::{FileCtx, Func};
use crate::finding::Finding;
use crate::rule::Rule;
use crate::syntax::{call_name, collect, contains, text};

/// dm-bufio 2014 (recounted in "\[PATCH 0/6\] Overhaul memalloc_no*",
/// dm-devel, 2020-06-29): the shrinker took its lock and wrote back
/// under `__GFP_IO` alone, so a GFP_NOFS allocation in a filesystem could
/// recurse into it. A scan_objects that tests `__GFP_IO` must also test `__GFP_FS`.
pub(super) fn shrinker_io_gate(file: &FileCtx<'_>, func: &Func<'_, '_>, out: &mut Vec<Finding>) {
    let src = func.src;
    let idents = collect(func.body, |n| n.kind() == "identifier");
    let Some(io) = idents.iter().find(|n| text(**n, src) == "__GFP_IO") else {
        return;
    };
    if idents
        .iter()
        .any(|n| matches!(text(*n, src), "__GFP_FS" | "GFP_NOFS" | "GFP_KERNEL"))
    {
        return;
    }
    let blocking = [
        "write", "wait", "sync", "flush", "submit", "lock", "evict", "scan",
    ];
    let Some(call) = func
        .all_calls
        .iter()
        .filter(|c| !contains(**c, io.start_byte()))
        .find(|c| {
            call_name(**c, src)
                .is_some_and(|n| blocking.iter().any(|b| n.contains(b)) && !n.contains("trylock"))
        })
    else {
        return;
    };
    let callee = call_name(*call, src).unwrap_or("");
    out.push(func.finding(
        file,
        Rule::ShrinkerIoGate,
        *io,
        *call,
        String::new(),
        format!(
            "shrinker gates on __GFP_IO only and then calls {callee}() (line {}); a GFP_NOFS caller still enters it, test __GFP_FS too",
            func.line_of(*call)
        ),
    ).with_evidence(func.line_of(*call), "blocking call"));
}
