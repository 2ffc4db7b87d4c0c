//! Fuzz target `kite_order_update`: `alpha_panda::fuzzing::kite_order_update` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("kite_order_update");
}
