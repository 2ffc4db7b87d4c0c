//! Fuzz target `engine_toml`: `alpha_panda::fuzzing::engine_toml` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("engine_toml");
}
