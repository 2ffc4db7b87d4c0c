//! Fuzz target `binary_ticks`: `alpha_panda::fuzzing::binary_ticks` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("binary_ticks");
}
