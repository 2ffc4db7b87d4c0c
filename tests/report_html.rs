//! `report.html` end to end. The real binary writes it with `backtest --out` on the embedded
//! data; the page must be self-contained (no network address in any `src`/`href`, no external
//! script or style) and hold every section. Then a real headless Chromium opens it:
//! `--dump-dom` shows the page's script ran to its end (`data-ok="1"` on `<html>`) with no
//! error (its `window.onerror` writes any into `data-error`), and that the instrument picker
//! follows `#instrument=N`; a 1400×2400 `--screenshot`, decoded, shows several of the
//! report's line colours in the top 1400×1200, so the equity chart is on the first screen.
//!
//! Without Chromium the browser checks print `SKIPPED` and pass, except under `CI` (`.ci/run`
//! installs it), where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::bin;

/// Runs the default backtest with `--out` and returns the directory and the page's text.
fn written_report() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let output = bin()
        .args(["backtest", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html written");
    (dir, html)
}

/// Every value of `attribute="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let needle = format!(" {attribute}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn report_is_self_contained_and_complete() {
    let (_dir, html) = written_report();
    for attribute in ["src", "href", "xlink:href"] {
        for value in attribute_values(&html, attribute) {
            let lower = value.to_ascii_lowercase();
            assert!(
                !lower.starts_with("http:")
                    && !lower.starts_with("https:")
                    && !lower.starts_with("//"),
                "{attribute}=\"{value}\" loads from the network"
            );
        }
    }
    assert!(!html.contains("<link"), "no external style sheets");
    assert!(!html.contains("@import"), "no imported styles");
    assert!(!html.contains("<script src"), "scripts are inline");
    for needle in [
        "<!DOCTYPE html>",
        "engine</b> alpha-panda ",
        "config</b> embedded",
        "&lt;embedded binance_l1_2024-08-08_excerpt.csv&gt;",
        "Net PnL, USDT",
        "Net PnL, BTC",
        "drawdown of the total, USDT",
        r#"<section id="stats">"#,
        "total USDT",
        "total BTC",
        r#"<select id="instrument""#,
        ">BTCUSDT-SPOT</option>",
        ">ETHUSDT-SPOT</option>",
        "<polyline",
        "data-ok",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle:?}");
    }
    // One statistics row per summary row (8 strategies) plus a total per currency (2).
    let table = &html[html.find(r#"<section id="stats">"#).expect("stats")..];
    let table = &table[..table.find("</table>").expect("table end")];
    assert_eq!(
        table.matches("<tr").count(),
        1 + 8 + 2,
        "header, rows, totals"
    );
    for id in ["ema_cross_btcusdt_spot", "ml_momentum_btcusdt_spot"] {
        assert!(table.contains(id), "stats table lacks {id}");
    }
    // Long series are thinned: no line has more than 2,000 points.
    for points in attribute_values(&html, "points") {
        assert!(points.split(' ').count() <= 2_000, "a line is not thinned");
    }
}

/// Chromium on PATH, or `None` with a note (a failure under `CI`).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium not found on PATH and CI is set: CI must install it (apt-get install -y chromium)"
        );
        eprintln!("SKIPPED: chromium not found (apt-get install -y chromium)");
    }
    found
}

/// Runs headless Chromium on `url` with `args` (its own profile in `profile`, so parallel
/// runs do not share one) and returns stdout.
fn run_chromium(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let output = assert_cmd::Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1400,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        // Only a guard against a hung browser; nothing is asserted about time.
        .timeout(Duration::from_secs(180))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The report's row colours (`plot::PALETTE`, Tableau 10) without its grey.
const LINE_COLOURS: [(u8, u8, u8); 9] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
];

/// Pixels per line colour in the top-left `width`×`height` of an 8-bit RGB(A) PNG.
fn colour_counts(png_path: &Path, width: usize, height: usize) -> [usize; 9] {
    let file = std::fs::File::open(png_path).expect("screenshot written");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert!(
        info.width as usize >= width && info.height as usize >= height,
        "screenshot is {}x{}",
        info.width,
        info.height
    );
    let mut counts = [0usize; 9];
    for y in 0..height {
        let row = &buf[y * info.line_size..];
        for x in 0..width {
            let p = &row[x * channels..x * channels + 3];
            let near = |c: &(u8, u8, u8)| {
                p[0].abs_diff(c.0) <= 24 && p[1].abs_diff(c.1) <= 24 && p[2].abs_diff(c.2) <= 24
            };
            if let Some(i) = LINE_COLOURS.iter().position(near) {
                counts[i] += 1;
            }
        }
    }
    counts
}

#[test]
fn chromium_runs_the_page_and_shows_the_equity_chart_first() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (dir, _) = written_report();
    let page = dir.path().join("out/report.html");
    let url = format!("file://{}", page.display());

    let dom = run_chromium(
        &chromium,
        &dir.path().join("profile-dom"),
        &["--dump-dom"],
        &format!("{url}#instrument=1"),
    );
    let root = &dom[dom.find("<html").expect("an <html> element")..];
    let root = &root[..root.find('>').expect("its tag ends")];
    assert!(
        root.contains(r#"data-ok="1""#),
        "the page's script did not finish: {root}"
    );
    assert!(
        !root.contains("data-error") && dom.contains(r#"<pre id="errors" hidden=""></pre>"#),
        "the page reported a script error: {root}"
    );
    assert!(
        dom.contains(r#"<div class="inst" data-instrument="1">"#)
            && dom.contains(r#"<div class="inst" data-instrument="0" hidden"#),
        "#instrument=1 shows the second instrument and hides the first"
    );

    let shot = dir.path().join("report.png");
    run_chromium(
        &chromium,
        &dir.path().join("profile-shot"),
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    let counts = colour_counts(&shot, 1400, 1200);
    eprintln!("line-colour pixels in the top 1400x1200: {counts:?}");
    // A line across the chart is well over 150 px; a legend swatch is 64.
    let drawn = counts.iter().filter(|&&n| n >= 150).count();
    assert!(
        drawn >= 4,
        "the top 1400x1200 shows only {drawn} line colours (pixels per colour: {counts:?})"
    );
}
