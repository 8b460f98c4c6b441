//! The fuzz targets on a stable toolchain: every seed in `corpus/<target>` is replayed, then,
//! when `INGEST_FUZZ_FALLBACK_SECS` is set (scripts/test sets it when no nightly toolchain can
//! be had for `cargo fuzz`), each target runs that many seconds on random mutations of its
//! seeds (bit flips, byte changes, inserts, deletions, truncation, splices of two seeds).
//! Not coverage-guided like libFuzzer, but the same targets and the same checks.
//!
//! A failing input is written to `target/fallback-crash-<target>` and its bytes printed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut seeds: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no seed corpus at {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable seed");
            (p, bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} holds no seeds", dir.display());
    seeds.into_iter().map(|(_, b)| b).collect()
}

/// xorshift64*: a small deterministic generator (seeded from the clock, printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Interesting bytes for text formats (JSON, TOML, base64 handles).
const DICTIONARY: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"=",
    b".",
    b"\\",
    b"\\u0000",
    b"\n",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"\xff",
    b"\xe2\x82\xac",
    b"[[providers]]",
    b"[gateway]",
    b"\"provider\"",
    b"\"direction\"",
    b"\"pull-in\"",
    b"\"options\"",
    b"://",
    b"_",
    b"-",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(8) {
        let len = data.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            2 => {
                let word = DICTIONARY[rng.below(DICTIONARY.len())];
                let at = rng.below(len + 1);
                data.splice(at..at, word.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                data.drain(at..end);
            }
            4 => data.truncate(rng.below(len + 1)),
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                data.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                let at = rng.below(len + 1);
                let n = rng.below(64);
                let byte = rng.next() as u8;
                data.splice(at..at, std::iter::repeat_n(byte, n));
            }
        }
    }
    data
}

fn run_guarded(name: &str, f: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("fallback-crash-{name}"));
        let _ = std::fs::create_dir_all(path.parent().expect("parent"));
        let _ = std::fs::write(&path, input);
        panic!(
            "target `{name}` failed on {input:?} (saved to {})",
            path.display()
        );
    }
}

#[test]
fn seeds_pass_every_target() {
    for (name, f) in ingest_gateway_fuzz::TARGETS {
        for seed in corpus(name) {
            run_guarded(name, *f, &seed);
        }
    }
}

#[test]
fn random_mutations_for_a_bounded_time() {
    let secs: u64 = std::env::var("INGEST_FUZZ_FALLBACK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if secs == 0 {
        eprintln!("INGEST_FUZZ_FALLBACK_SECS not set: no random run");
        return;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    for (name, f) in ingest_gateway_fuzz::TARGETS {
        let seeds = corpus(name);
        let mut rng = Rng(seed);
        let started = Instant::now();
        let mut runs: u64 = 0;
        while started.elapsed() < Duration::from_secs(secs) {
            let input = mutate(&mut rng, &seeds);
            run_guarded(name, *f, &input);
            runs += 1;
        }
        eprintln!("fallback fuzz `{name}`: {runs} executions in {secs} s (rng seed {seed})");
    }
}
