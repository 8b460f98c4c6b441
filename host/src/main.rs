//! The `ingest-gateway` binary: the command-line front in `front/cli.rs`.

fn main() -> std::process::ExitCode {
    ingest_gateway::cli_main()
}
