//! The `portrait` binary: parse the command line and hand over to `cli`.
//! Nothing else belongs here (but the allocator, which must be chosen here).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portrait::cli::main()
}
