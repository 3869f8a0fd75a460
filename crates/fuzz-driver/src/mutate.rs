//! Inputs for the stable driver: seed corpora from the repository, and a
//! deterministic mutator (execution `i` of a run is a pure function of the
//! run's seed and `i`, so a crash found in a child process can be rebuilt
//! by the parent and saved).

use std::path::Path;

/// splitmix64: small, fast, and every seed gives a full-period stream.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Tokens worth splicing in: the syntax each target cares about, and the
/// shapes that broke it before (deep nesting, long chains).
pub fn dictionary(target: &str) -> &'static [&'static str] {
    match target {
        "gfp_expr" => &[
            "|",
            "&",
            "^",
            "~",
            "(",
            ")",
            "(gfp_t)",
            "(__force gfp_t)",
            "GFP_KERNEL",
            "__GFP_FS",
            "__GFP_IO",
            "GFP_NOFS",
            "__GFP_NORETRY",
            "0x",
            "0xffffffff",
            "4294967296",
            "gfp",
            "GFP_KERNAL",
            " ",
            "__GFP_",
            "1u",
        ],
        "scenario" => &[
            "\n[[task]]\n",
            "\n[[fs]]\n",
            "\n[[daemon]]\n",
            "\n[[loop]]\n",
            "\n[[bufio]]\n",
            "\n[memory]\n",
            "name = \"x\"\n",
            "program = [\"alloc gfp=GFP_KERNEL pages=1\"]\n",
            "repeat ",
            "alloc gfp=",
            "write_gfp = \"",
            "\"",
            "=",
            "[",
            "]",
            "{",
            "}",
            "#",
            "\u{1b}",
            "pages=",
            "9999999999",
            "-1",
            "0",
            "queue_depth = ",
            "dev = \"",
            "((((",
            "~~~~",
            " | __GFP_NOWARN",
            "\n",
        ],
        "kernel_version" => &[
            ".",
            "-",
            "+",
            "v",
            "rc1",
            "-rc",
            "el9.x86_64",
            "amd64",
            "99999999999999999999",
            "65535",
            "65536",
            "0",
            " ",
            "\u{fffd}",
        ],
        "unified_diff" => &[
            "\n+++ b/",
            "\n--- a/",
            "\n@@ -1,3 +1,4 @@\n",
            "@@ ",
            " @@",
            "\n+",
            "\n-",
            "\n ",
            "\n\\ No newline at end of file\n",
            ",",
            "+18446744073709551615",
            "-18446744073709551616",
            "/dev/null",
            "\t",
            "\n",
            "\r\n",
            "diff --git a/x b/x\n",
        ],
        _ => &[
            "{",
            "}",
            "(",
            ")",
            ";",
            "\n}\n",
            "#if 0\n",
            "#else\n",
            "#endif\n",
            "#define X ",
            "kmalloc(n, GFP_KERNEL | __GFP_NORETRY)",
            "if (!p)\n\treturn -ENOMEM;\n",
            "memalloc_nofs_save()",
            "memalloc_nofs_restore(nofs);",
            "goto out;",
            "out:",
            "return ret;",
            "__GFP_IO",
            "scan_objects",
            "~",
            " | __GFP_NORETRY",
            "/*",
            "*/",
            "\"",
            "'",
            "\\\n",
            "int f(a)\nint a;\n",
            "GFP_NOFS",
            "vmalloc(",
            "\u{fffd}",
            "\0",
        ],
    }
}

/// Read the seed corpus of `target` from the repository at `root`, sorted
/// so the corpus, and thus every generated input, is the same each run.
pub fn load_seeds(root: &Path, t: &crate::Target) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for (dir, suffix) in t.seeds {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.flatten() {
                let p = e.path();
                if p.to_string_lossy().ends_with(suffix) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for p in files {
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        if p.extension().is_some_and(|e| e == "md") {
            seeds.extend(code_blocks(&String::from_utf8_lossy(&bytes), "c"));
        } else {
            seeds.push(bytes);
        }
    }
    if t.name == "gfp_expr" {
        seeds.extend(crate::GFP_SEEDS.iter().map(|s| s.as_bytes().to_vec()));
        // Masks as the scenarios write them.
        if let Ok(rd) = std::fs::read_dir(root.join("scenarios")) {
            let mut paths: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                for w in text.split(['"', ' ']) {
                    if let Some(g) = w.strip_prefix("gfp=") {
                        seeds.push(g.as_bytes().to_vec());
                    }
                }
            }
        }
    }
    if t.name == "kernel_version" {
        seeds.extend(crate::KERNEL_SEEDS.iter().map(|s| s.as_bytes().to_vec()));
        // Every release the history facts name, as `--kernel` takes it.
        for f in reclaimscope_model::history::FACTS {
            seeds.push(f.since.to_string().into_bytes());
            seeds.extend(f.stable.iter().map(|v| v.to_string().into_bytes()));
        }
    }
    if t.name == "unified_diff" {
        seeds.extend(crate::DIFF_SEEDS.iter().map(|s| s.as_bytes().to_vec()));
    }
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    seeds
}

/// The fenced code blocks of a markdown text tagged `lang`.
fn code_blocks(md: &str, lang: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in md.lines() {
        match (&mut cur, line.trim_start().strip_prefix("```")) {
            (None, Some(tag)) if tag.trim() == lang => cur = Some(String::new()),
            (Some(_), Some(_)) => out.push(cur.take().unwrap_or_default().into_bytes()),
            (Some(buf), None) => {
                buf.push_str(line);
                buf.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// Input number `i` of a run: a seed with 1 to 8 mutations.
pub fn input(seeds: &[Vec<u8>], dict: &[&str], run_seed: u64, i: u64, max_len: usize) -> Vec<u8> {
    let mut rng = Rng::new(run_seed ^ i.wrapping_mul(0xa076_1d64_78bd_642f));
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(8) {
        mutate(&mut data, seeds, dict, &mut rng);
        if data.len() > max_len {
            data.truncate(max_len);
        }
    }
    data
}

fn mutate(data: &mut Vec<u8>, seeds: &[Vec<u8>], dict: &[&str], rng: &mut Rng) {
    let len = data.len();
    let at = rng.below(len + 1);
    match rng.below(9) {
        0 if len > 0 => data[at.min(len - 1)] ^= 1 << rng.below(8),
        1 => data.insert(at, rng.next_u64() as u8),
        2 if len > 0 => {
            let end = (at + 1 + rng.below(64)).min(len);
            data.drain(at.min(len - 1)..end);
        }
        3 if len > 0 => {
            // Duplicate a chunk: repeated structure.
            let start = rng.below(len);
            let end = (start + 1 + rng.below(256)).min(len);
            let chunk = data[start..end].to_vec();
            data.splice(at..at, chunk);
        }
        4 => {
            // Splice a piece of another seed.
            let other = &seeds[rng.below(seeds.len())];
            if !other.is_empty() {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(512)).min(other.len());
                data.splice(at..at, other[start..end].iter().copied());
            }
        }
        5 => {
            // One token, repeated up to thousands of times: nesting depth
            // and chain length are what broke the recursive parsers.
            let tok = dict[rng.below(dict.len())];
            let n = if rng.below(4) == 0 {
                1 + rng.below(8000)
            } else {
                1
            };
            let piece = tok.repeat(n);
            data.splice(at..at, piece.bytes());
        }
        6 if len > 0 => data.truncate(at),
        7 => {
            let tok = dict[rng.below(dict.len())];
            data.splice(at..at, tok.bytes());
        }
        _ => {
            // An "interesting" byte: control, NUL, high, quote.
            const B: &[u8] = b"\0\x1b\x7f\xff\xc3\n\r\t\"'\\";
            data.insert(at, B[rng.below(B.len())]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_a_function_of_seed_and_index() {
        let seeds = vec![b"GFP_KERNEL".to_vec(), b"a | b".to_vec()];
        let dict = dictionary("gfp_expr");
        for i in 0..200 {
            assert_eq!(
                input(&seeds, dict, 7, i, 4096),
                input(&seeds, dict, 7, i, 4096)
            );
            assert!(input(&seeds, dict, 7, i, 4096).len() <= 4096);
        }
        assert_ne!(
            (0..50)
                .map(|i| input(&seeds, dict, 7, i, 4096))
                .collect::<Vec<_>>(),
            (0..50)
                .map(|i| input(&seeds, dict, 8, i, 4096))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn markdown_c_blocks_are_extracted() {
        let md = "x\n```c\nint a;\n```\n```toml\nb = 1\n```\n";
        assert_eq!(code_blocks(md, "c"), vec![b"int a;\n".to_vec()]);
    }
}
