//! The `portrait` binary: parse the command line and hand over to `cli`.
//! Nothing else belongs here.

fn main() -> std::process::ExitCode {
    portrait::cli::main()
}
