//! The `ingest-gateway` binary: the command-line front in `front/cli.rs`.

/// mimalloc instead of the system allocator: the gateway allocates and frees many small
/// objects per request across threads, where glibc's malloc cost about 15 % of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ingest_gateway::cli_main()
}
