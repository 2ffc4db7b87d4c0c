//! Fuzz target `strategy_toml`: `alpha_panda::fuzzing::strategy_toml` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("strategy_toml");
}
