//! Fuzz target `kite_instruments`: `alpha_panda::fuzzing::kite_instruments` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("kite_instruments");
}
