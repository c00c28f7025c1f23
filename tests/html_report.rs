//! The HTML report in a real browser: headless Chromium (Debian `chromium`,
//! installed by `.ci/run`) opens `report.html`, the DOM it built is dumped
//! and a screenshot is taken at 1280 px.
//!
//! The page itself has no script. The test opens a copy with a probe
//! appended that reads what the browser laid out: the matrix rows, the size
//! of every plot and of the marks inside it, the page's scroll width. The
//! DOM dump must show one matrix row per scenario and every plot rendered
//! with its marks; the screenshot must not be blank and must show the
//! matrix colours. Without Chromium the tests say so and pass.
//!
//! Chromium runs with a fresh profile and every background service off
//! (no network is needed or touched), and is killed if it takes longer than
//! [`TIMEOUT`].

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(90);

/// What the probe reports, as JSON in `<pre id="probe">`.
const PROBE: &str = r#"<pre id="probe"></pre><script>
(function () {
  var rows = document.querySelectorAll('table.matrix tbody tr[data-scenario]');
  var plots = [].map.call(document.querySelectorAll('svg.plot'), function (s) {
    var r = s.getBoundingClientRect(), b = s.getBBox();
    var drawn = function (sel) {
      return [].filter.call(s.querySelectorAll(sel), function (e) {
        var x = e.getBoundingClientRect(); return x.width > 0 && x.height > 0;
      }).length;
    };
    return {w: r.width, h: r.height, bw: b.width, bh: b.height,
            circles: drawn('circle'), rects: drawn('rect.tp, rect.fp')};
  });
  document.getElementById('probe').textContent = JSON.stringify({
    rows: [].map.call(rows, function (r) { return r.getAttribute('data-scenario'); }),
    plots: plots,
    scrollWidth: document.documentElement.scrollWidth
  });
})();
</script>"#;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `page` with `args`, standard output to `out`;
/// kills it after [`TIMEOUT`].
fn browse(bin: &Path, profile: &Path, args: &[String], page: &Path, out: &Path) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the browser made of one report page.
struct Seen {
    dom: String,
    probe: serde_json::Value,
    png: png::Decoder<std::io::BufReader<std::fs::File>>,
}

/// Opens `report` (a `report.html`) in Chromium: the DOM dump with the
/// probe's findings, and a screenshot. `None` (after saying why) without
/// Chromium.
fn open(report: &Path) -> Option<Seen> {
    let Some(bin) = chromium() else {
        common::skip(
            "html_report",
            "no `chromium` on PATH (Debian package chromium; .ci/run installs it)",
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(report).unwrap();
    // Self-contained: nothing is fetched (the only URLs are XML namespaces).
    for fetch in ["<script", "<link", " src=", "href=", "url(", "@import"] {
        assert!(!html.contains(fetch), "the report contains `{fetch}`");
    }
    let probed = dir.path().join("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let dom = dir.path().join("dom.html");
    browse(
        &bin,
        &dir.path().join("profile-dom"),
        &["--dump-dom".to_string()],
        &probed,
        &dom,
    );
    let shot = dir.path().join("shot.png");
    browse(
        &bin,
        &dir.path().join("profile-shot"),
        &[format!("--screenshot={}", shot.display())],
        report,
        &dir.path().join("shot.out"),
    );
    let dom = std::fs::read_to_string(dom).unwrap();
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + 16;
    let end = start + dom[start..].find("</pre>").unwrap();
    let probe = serde_json::from_str(&dom[start..end].replace("&quot;", "\"")).unwrap();
    let png = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(shot).unwrap()));
    Some(Seen { dom, probe, png })
}

/// Pixels of the screenshot as RGB triples.
fn pixels(decoder: png::Decoder<std::io::BufReader<std::fs::File>>) -> Vec<[u8; 3]> {
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, 1280, "the screenshot is 1280 px wide");
    let step = info.color_type.samples();
    assert!(step >= 3, "colour screenshot");
    buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// The screenshot is not blank, and shows the given colours (CSS of the
/// matrix cells) somewhere.
fn assert_painted(decoder: png::Decoder<std::io::BufReader<std::fs::File>>, colours: &[[u8; 3]]) {
    let px = pixels(decoder);
    let white = px.iter().filter(|p| **p == [255, 255, 255]).count();
    assert!(
        (px.len() - white) * 50 > px.len(),
        "screenshot nearly blank: {} of {} pixels white",
        white,
        px.len()
    );
    let mut distinct: Vec<[u8; 3]> = px.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 16, "{} colours only", distinct.len());
    for c in colours {
        assert!(px.contains(c), "no pixel of colour {c:?}");
    }
}

fn scanbench(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn suite_names() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "toml")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
    names.sort();
    names
}

/// Every plot was laid out with a size and content.
fn assert_plots_rendered(probe: &serde_json::Value, expected: usize) -> Vec<serde_json::Value> {
    let plots = probe["plots"].as_array().unwrap().clone();
    assert_eq!(plots.len(), expected, "{probe}");
    for p in &plots {
        for k in ["w", "h", "bw", "bh"] {
            assert!(p[k].as_f64().unwrap() > 10.0, "plot not rendered: {p}");
        }
    }
    assert!(
        probe["scrollWidth"].as_f64().unwrap() <= 1280.0,
        "wider than 1280 px: {probe}"
    );
    plots
}

#[test]
fn run_report_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    scanbench(&["run", "--format", "html", "--out", out]);
    let report = dir.path().join("report.html");
    let Some(seen) = open(&report) else { return };
    // One matrix row per scenario, in suite order, in the DOM the browser built.
    let rows: Vec<String> = seen.probe["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows, suite_names());
    assert_eq!(
        seen.dom.matches("<tr data-scenario=").count(),
        suite_names().len()
    );
    // Every alert timeline rendered, each with its marks.
    let html = std::fs::read_to_string(&report).unwrap();
    let timelines = html.matches("<svg class=\"plot timeline\"").count();
    assert!(timelines >= 10, "{timelines} timelines");
    for p in assert_plots_rendered(&seen.probe, timelines) {
        assert!(
            p["rects"].as_u64().unwrap() > 0,
            "timeline without marks: {p}"
        );
    }
    // Green (blames a scanner) and red (blames a benign source) cells.
    assert_painted(seen.png, &[[0xc9, 0xec, 0xc9], [0xf6, 0xb8, 0xb8]]);
}

#[test]
fn sweep_report_renders_its_plots_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    scanbench(&[
        "sweep",
        "sfportscan",
        "--param",
        "sense_level=low,medium,high",
        "--format",
        "html",
        "--out",
        out,
    ]);
    let Some(seen) = open(&dir.path().join("report.html")) else {
        return;
    };
    assert_eq!(
        seen.probe["rows"].as_array().unwrap().len(),
        suite_names().len()
    );
    let plots = assert_plots_rendered(&seen.probe, 1);
    // Three panels of three points: recall/FP (ROC), recall (rates) and
    // latency circles, every one laid out by the browser.
    assert_eq!(plots[0]["circles"].as_u64(), Some(9), "{}", plots[0]);
    assert_painted(seen.png, &[[0xc9, 0xec, 0xc9]]);
}
