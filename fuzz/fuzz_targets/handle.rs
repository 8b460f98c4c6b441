//! `cargo +nightly fuzz run handle`: see [`ingest_gateway_fuzz::handle`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest_gateway_fuzz::handle(data));
