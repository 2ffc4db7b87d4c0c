//! Fuzz target `kite_frame`: `alpha_panda::fuzzing::kite_frame` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("kite_frame");
}
