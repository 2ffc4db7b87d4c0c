//! Fuzz target `http_request`: `alpha_panda::fuzzing::http_request` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("http_request");
}
