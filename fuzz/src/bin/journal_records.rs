//! Fuzz target `journal_records`: `alpha_panda::fuzzing::journal_records` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("journal_records");
}
