//! `alpha-panda`: the command-line front of the engine. Thin: parsing and wiring live in
//! `cli.rs`; the engine is the library.

mod cli;
mod live_cmd;

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
