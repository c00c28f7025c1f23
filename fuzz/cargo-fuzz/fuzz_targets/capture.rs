#![no_main]
//! `cargo +nightly fuzz run capture`: libFuzzer drives scanbench_fuzz::fuzz_bytes.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scanbench_fuzz::fuzz_bytes(scanbench_fuzz::Target::Capture, data);
});
