//! The cargo-afl harness shared by every target binary: looks the target up in
//! `alpha_panda::fuzzing::TARGETS` and feeds it the fuzzer's inputs in AFL++'s persistent mode.
//!
//! Contract: a target's panic is a crash (afl's hook aborts the process); each input is
//! prepared, handed to the entry as `&'static [u8]` (tick files are read as embedded bytes)
//! and freed after the entry returns, so a long run does not grow.

use alpha_panda::fuzzing::{self, Target};

/// Runs target `name` under afl; exits 2 when no target has that name.
pub fn main(name: &str) {
    let Some(target) = fuzzing::target(name) else {
        eprintln!("no fuzz target named {name}");
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| run_once(target, data));
}

/// One input through `target`: prepared, lent as `'static` for the call, then freed.
pub fn run_once(target: &Target, data: &[u8]) {
    let mut bytes = data.to_vec();
    (target.prepare)(&mut bytes);
    let raw: *mut [u8] = Box::into_raw(bytes.into_boxed_slice());
    // SAFETY: `raw` comes from `Box::into_raw` just above and is freed only below, after the
    // call, so it is valid for the whole call. The entries' contract (`alpha_panda::fuzzing`)
    // is that they keep no reference to their input once they return, so nothing reads it
    // after it is freed. Leaking instead would grow the process by every input of a run.
    let input: &'static [u8] = unsafe { &*raw };
    (target.run)(input);
    // SAFETY: as above; `input` is not used past this point.
    drop(unsafe { Box::from_raw(raw) });
}
