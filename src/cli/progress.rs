//! A progress bar on stderr, shown only on a terminal and only once a run passes one second.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::clock::Stopwatch;

/// A progress bar on stderr, shown only on a terminal and only once a run passes one second.
pub(crate) struct Progress {
    bar: ProgressBar,
    watch: Stopwatch,
    tty: bool,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg} ETA {eta}",
        ) {
            bar.set_style(style);
        }
        Progress {
            bar,
            watch: Stopwatch::start(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// `done` of `total` (bytes of the data, or variants); `ticks` processed so far (0 when
    /// not counted) show as ticks/s.
    pub(crate) fn update(&self, done: u64, total: u64, ticks: u64) {
        if self.tty && self.bar.is_hidden() && self.watch.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total.max(1));
        self.bar.set_position(done);
        let secs = self.watch.elapsed().as_secs_f64();
        if ticks > 0 && secs > 0.0 {
            self.bar
                .set_message(format!("{:.2} M ticks/s", ticks as f64 / secs / 1e6));
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
