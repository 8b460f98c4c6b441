//! The `ingest-gateway` command (`cli.rs`): `serve`, `call`, and the plugin authors' kit
//! (`plugin …`, the `ingest-plugin-kit` crate), over the `ingest-gateway` library.

mod cli;

// jemalloc instead of glibc's malloc: per-thread caches without arena-lock contention
// between the tokio workers (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
