//! The `ingest-gateway` binary: the command-line front in `front/cli.rs`.

// jemalloc instead of glibc's malloc: per-thread caches without arena-lock contention
// between the tokio workers (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    ingest_gateway::cli_main()
}
