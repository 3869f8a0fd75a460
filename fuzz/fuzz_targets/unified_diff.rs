#![no_main]
//! libFuzzer entry for the `unified_diff` target of crates/fuzz-driver.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    reclaimscope_fuzz_driver::unified_diff(data);
});
