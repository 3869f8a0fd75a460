//! Whole-tree behaviour of `scan_paths`: version detection from the
//! kernel Makefile, gfp masks defined in headers, skipped files.

use reclaimscope_scan::{Rule, ScanOptions, scan_paths};
use std::path::{Path, PathBuf};

fn tree(name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "reclaimscope-scan-tree-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}

fn rules(dir: &Path, rules: &[Rule]) -> Vec<(String, usize, Rule)> {
    let opts = ScanOptions {
        rules: rules.to_vec(),
        ..ScanOptions::default()
    };
    let report = scan_paths(&[dir.to_path_buf()], &opts, &|_| {}).expect("scan runs");
    report
        .findings
        .into_iter()
        .map(|f| (f.file, f.line, f.rule))
        .collect()
}

const GFS2_DIR: &[u8] =
    b"static void *hash(size_t hsize)\n{\n\treturn __vmalloc(hsize, GFP_NOFS);\n}\n";

#[test]
fn kernel_version_comes_from_the_makefile() {
    // Before v5.17, mm/vmalloc.c allocated page tables with GFP_KERNEL
    // whatever the caller passed ("Re: [PATCH] vmalloc: respect the GFP_NOIO and GFP_NOFS flags",
    // 2017-06-30); from v5.17 it scopes them.
    let old = tree(
        "v5",
        &[
            ("Makefile", b"VERSION = 5\nPATCHLEVEL = 10\n"),
            ("fs/gfs2/dir.c", GFS2_DIR),
        ],
    );
    let found = rules(&old.join("fs"), &[Rule::VmallocNofsUnscoped]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, 3);
    let new = tree(
        "v6",
        &[
            ("Makefile", b"VERSION = 6\nPATCHLEVEL = 1\n"),
            ("fs/gfs2/dir.c", GFS2_DIR),
        ],
    );
    assert!(rules(&new, &[Rule::VmallocNofsUnscoped]).is_empty());
}

#[test]
fn gfp_macro_from_a_header_reaches_its_users() {
    // include/linux/kexec.h defines the mask; kernel/kexec_core.c uses it
    // without ever spelling __GFP_NORETRY. An arch override that differs
    // must not make the generic definition ambiguous.
    let dir = tree(
        "macro",
        &[
            ("include/linux/kexec.h", b"#ifndef KEXEC_GFP\n#define KEXEC_GFP (GFP_KERNEL | __GFP_NORETRY)\n#endif\n"),
            ("arch/s390/include/asm/kexec.h", b"#define KEXEC_GFP (GFP_DMA | __GFP_NORETRY)\n"),
            (
                "kernel/kexec_core.c",
                b"static int f(struct image *image)\n{\n\timage->p = kimage_alloc_pages(KEXEC_GFP, 0);\n\tif (!image->p)\n\t\treturn -ENOMEM;\n\treturn 0;\n}\n",
            ),
        ],
    );
    let found = rules(&dir, &[Rule::NoretryNoFallback]);
    let user = dir
        .join("kernel/kexec_core.c")
        .to_string_lossy()
        .into_owned();
    assert_eq!(found, vec![(user, 3, Rule::NoretryNoFallback)]);
}

#[test]
fn bad_files_are_counted_not_fatal() {
    let dir = tree(
        "skips",
        &[
            ("a.c", b"int x = __GFP_NORETRY; /* \xff\xfe */\n"),
            ("b.h", b"\x00\x00__GFP_NORETRY"),
            ("c.txt", b"__GFP_NORETRY"),
        ],
    );
    let opts = ScanOptions::default();
    let report = scan_paths(std::slice::from_ref(&dir), &opts, &|_| {}).expect("scan runs");
    assert_eq!(report.stats.skipped_non_utf8, 1);
    assert_eq!(report.stats.skipped_binary, 1);
    assert_eq!(report.stats.files_seen, 2, "only .c and .h files are read");
    assert!(scan_paths(&[dir.join("missing")], &opts, &|_| {}).is_err());
}
