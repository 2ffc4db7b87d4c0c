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
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
        ) {
            bar.set_style(style);
        }
        Progress {
            bar,
            watch: Stopwatch::start(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub(crate) fn update(&self, done: u64, total: u64) {
        if self.tty && self.bar.is_hidden() && self.watch.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total.max(1));
        self.bar.set_position(done);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
