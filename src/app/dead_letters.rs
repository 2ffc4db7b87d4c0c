//! A run's dead letters: where the file goes and the writer's start and end, shared by
//! `backtest` (with `--out DIR`) and `live`, so both name and report it the same way.
//!
//! The file is `<output dir>/dead_letters/<run id>.jsonl` (see `dlq`): a run's results and
//! the inputs it could not use sit together, under a directory the operator already
//! configures (`[output] dir`, or `--out`), and each run gets its own file.

use std::path::Path;
use std::sync::Arc;

use crate::dlq::{DeadLetterWriter, Header, WriterReport};
use crate::domain::InstrumentTable;
use crate::metrics::telemetry::Telemetry;

/// Starts the writer of a run whose results go to `output_dir`; `run_id` names the file
/// (a new id when the run has none). Nothing is created until the first dead letter.
///
/// # Errors
/// The writer thread cannot be spawned.
pub fn start(
    output_dir: &Path,
    run_id: Option<&str>,
    table: &InstrumentTable,
    telemetry: Arc<Telemetry>,
) -> std::io::Result<DeadLetterWriter> {
    let id = run_id.map_or_else(crate::ops::run_lock::new_run_id, str::to_owned);
    DeadLetterWriter::start(
        output_dir.join(crate::dlq::DIR),
        Header::new(&id, table),
        Some(telemetry),
    )
}

/// Ends the writer (everything queued is written and flushed) and logs what it wrote.
pub fn finish(writer: &mut DeadLetterWriter) -> WriterReport {
    let report = writer.finish();
    if let Some(path) = &report.path {
        tracing::info!(
            target: "market_data",
            written = report.written,
            dropped = report.dropped,
            "{} dead letter(s) in {} (alpha-panda dlq list {})",
            report.total(),
            path.display(),
            path.display()
        );
    }
    if let Some(error) = &report.error {
        tracing::error!(target: "error", "{error}");
    }
    report
}

/// The line a CLI prints after a run that had dead letters.
pub fn describe(report: &WriterReport) -> Option<String> {
    let path = report.path.as_ref()?;
    let dropped = if report.dropped > 0 {
        format!(" ({} more counted but not written)", report.dropped)
    } else {
        String::new()
    };
    Some(format!(
        "{} dead letter(s) in {}{dropped}: alpha-panda dlq list {}",
        report.written,
        path.display(),
        path.display()
    ))
}
