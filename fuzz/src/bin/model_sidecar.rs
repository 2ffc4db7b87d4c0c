//! Fuzz target `model_sidecar`: `alpha_panda::fuzzing::model_sidecar` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("model_sidecar");
}
