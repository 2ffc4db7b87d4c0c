//! `alpha-panda`: the command-line front of the engine, with the built-in strategy kinds.
//! Everything is in the library; a user's crate makes the same binary with its own kinds by
//! calling `alpha_panda::cli::main` with its registry.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> std::process::ExitCode {
    alpha_panda::cli::main(alpha_panda::strategy::Registry::builtin())
}
