//! Fuzz target `csv_row`: `alpha_panda::fuzzing::csv_row` under cargo-afl (see `docs/FUZZING.md`).

fn main() {
    alpha_panda_fuzz::main("csv_row");
}
