//! `cargo +nightly fuzz run config`: see [`ingest_gateway_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ingest_gateway_fuzz::config(data));
