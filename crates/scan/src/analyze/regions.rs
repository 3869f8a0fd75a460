//! Which byte ranges of a file to parse: the top-level constructs around
//! the rule tokens, found from kernel brace style without a parse.

/// Byte ranges to parse: around each token hit, from the line after the
/// closest preceding line that starts with `}` (the end of the previous
/// top-level construct in kernel style) to the end of the next such line.
/// Overlapping ranges are merged. Regions start at line starts, so
/// columns are unchanged and lines shift by the region's first line.
pub fn regions(src: &str, tokens: &[String]) -> Vec<std::ops::Range<usize>> {
    let bytes = src.as_bytes();
    let mut hits: Vec<usize> = Vec::new();
    for t in tokens {
        hits.extend(memchr::memmem::find_iter(bytes, t.as_bytes()));
    }
    hits.sort_unstable();
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for h in hits {
        if out.last().is_some_and(|r| h < r.end) {
            continue;
        }
        let (mut start, mut before) = prev_boundary(bytes, h);
        let mut end = next_boundary(bytes, h);
        // A `}` in column 0 inside a function (a mis-indented block) would
        // cut it in two: widen until the braces balance (bounded).
        for _ in 0..32 {
            match brace_balance(&bytes[start..end]) {
                b if b < 0 && before.is_some() => {
                    (start, before) = prev_boundary(bytes, before.unwrap_or(0));
                }
                b if b > 0 && end < bytes.len() => end = next_boundary(bytes, end - 1),
                _ => break,
            }
        }
        match out.last_mut() {
            Some(r) if start <= r.end => r.end = r.end.max(end),
            _ => out.push(start..end),
        }
    }
    out
}

/// Start of the line after the last line beginning with `}` before
/// `limit` (or 0), and where that `\n}` is, to widen further.
fn prev_boundary(bytes: &[u8], limit: usize) -> (usize, Option<usize>) {
    match memchr::memmem::rfind(&bytes[..limit], b"\n}") {
        Some(i) => {
            let start =
                memchr::memchr(b'\n', &bytes[i + 1..]).map_or(bytes.len(), |j| i + 1 + j + 1);
            (start.min(limit), Some(i))
        }
        None => (0, None),
    }
}

/// End (after the newline) of the next line beginning with `}` after `from`.
fn next_boundary(bytes: &[u8], from: usize) -> usize {
    memchr::memmem::find(&bytes[from..], b"\n}")
        .map(|i| from + i + 1)
        .map_or(bytes.len(), |i| {
            memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |j| i + j + 1)
        })
}

/// `{` minus `}` outside comments, strings and character literals.
pub(super) fn brace_balance(b: &[u8]) -> i64 {
    let mut bal = 0i64;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = memchr::memmem::find(&b[i + 2..], b"*/").map_or(b.len(), |j| i + 2 + j + 2);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |j| i + j);
                continue;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => bal += 1,
            b'}' => bal -= 1,
            _ => {}
        }
        i += 1;
    }
    bal
}
