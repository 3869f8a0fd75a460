#![no_main]
//! libFuzzer entry for the `gfp_expr` target of crates/fuzz-driver.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    reclaimscope_fuzz_driver::gfp_expr(data);
});
