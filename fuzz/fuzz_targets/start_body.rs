//! `cargo +nightly fuzz run start_body`: see [`ingest_gateway_fuzz::start_body`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest_gateway_fuzz::start_body(data));
