//! `--format junit`: one test case per scenario claim and per verdict
//! snapshot, valid against the common JUnit schema committed in
//! `tests/fixtures/junit/junit.xsd` (checked with `xmllint --schema`,
//! Debian libxml2-utils, installed by `.ci/run`; without it the schema check
//! says so and the structure checks still run), failures carrying the claim
//! and what was measured.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn junit(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .arg("run")
        .args(args)
        .args(["--format", "junit"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Validates `xml` against the committed schema with xmllint, if present.
fn assert_schema_valid(xml: &str) {
    let Ok(mut child) = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("tests/fixtures/junit/junit.xsd"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        common::skip(
            "junit schema check",
            "no `xmllint` (Debian package libxml2-utils; .ci/run installs it)",
        );
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "not valid against junit.xsd: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// (suite, case name, outcome element or "", its message, its text, system-out).
type Case = (String, String, String, String, String, String);

/// The test cases, checking that every count attribute is right.
fn cases(xml: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let mut out = Vec::new();
    for suite in root.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let name = suite.attribute("name").unwrap().to_string();
        let mut n = (0, 0, 0);
        for case in suite.children().filter(|n| n.is_element()) {
            assert_eq!(
                case.attribute("classname").unwrap(),
                format!("scanbench.{name}")
            );
            let result = case
                .children()
                .find(|c| c.is_element() && c.tag_name().name() != "system-out");
            let (kind, message, text) = match result {
                Some(r) => (
                    r.tag_name().name().to_string(),
                    r.attribute("message").unwrap_or("").to_string(),
                    r.text().unwrap_or("").to_string(),
                ),
                None => Default::default(),
            };
            let out_text = case
                .children()
                .find(|c| c.tag_name().name() == "system-out")
                .and_then(|c| c.text())
                .unwrap_or("")
                .to_string();
            n.0 += 1;
            n.1 += usize::from(kind == "failure");
            n.2 += usize::from(kind == "skipped");
            out.push((
                name.clone(),
                case.attribute("name").unwrap().to_string(),
                kind,
                message,
                text,
                out_text,
            ));
        }
        let attr = |k| suite.attribute(k).unwrap().parse::<usize>().unwrap();
        assert_eq!(
            (attr("tests"), attr("failures"), attr("skipped")),
            n,
            "{name}"
        );
    }
    let attr = |k| root.attribute(k).unwrap().parse::<usize>().unwrap();
    assert_eq!(attr("tests"), out.len());
    assert_eq!(
        attr("failures"),
        out.iter().filter(|c| c.2 == "failure").count()
    );
    out
}

#[test]
fn the_suite_passes_its_claims_and_matches_its_snapshots() {
    let xml = junit(&["--snapshots", "tests/snapshots"]);
    assert_schema_valid(&xml);
    let cases = cases(&xml);
    // One case per claim of every scenario and one verdict case per run.
    let mut claims = 0;
    let mut scenarios = 0;
    for e in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            scenarios += 1;
            claims += scanbench::Scenario::load(&p).unwrap().expectations.len();
        }
    }
    assert!(claims > scenarios, "{claims} claims");
    assert_eq!(cases.len(), claims + scenarios);
    let verdicts: Vec<&Case> = cases
        .iter()
        .filter(|c| c.1.ends_with("verdicts match the snapshot"))
        .collect();
    assert_eq!(verdicts.len(), scenarios);
    let bad: Vec<&Case> = cases.iter().filter(|c| !c.2.is_empty()).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    // Each case carries what was measured.
    assert!(cases.iter().all(|c| !c.5.is_empty()));
}

#[test]
fn failures_name_the_claim_and_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    // A scenario with a claim that is false, with characters XML must escape.
    let text = std::fs::read_to_string(root().join("scenarios/syn-scan-t3.toml")).unwrap()
        + "\n[[expect]]\nclaim = \"scanlogd stays <silent> & \\\"quiet\\\" (false on purpose)\"\n\
           detectors = [\"scanlogd\"]\nmax_alerts = 0\n";
    let scenario: PathBuf = dir.path().join("syn-scan-t3.toml");
    std::fs::write(&scenario, text).unwrap();
    // A snapshot that disagrees with the run on scanlogd only.
    let snaps = dir.path().join("snaps");
    std::fs::create_dir(&snaps).unwrap();
    let snap = std::fs::read_to_string(
        root().join("tests/snapshots/snapshots__verdicts@syn-scan-t3.toml.snap"),
    )
    .unwrap();
    assert!(snap.contains("\nscanlogd: alerts 1 |"));
    std::fs::write(
        snaps.join("snapshots__verdicts@syn-scan-t3.toml.snap"),
        snap.replace("\nscanlogd: alerts 1 |", "\nscanlogd: alerts 2 |"),
    )
    .unwrap();
    let xml = junit(&[
        scenario.to_str().unwrap(),
        "--snapshots",
        snaps.to_str().unwrap(),
    ]);
    assert_schema_valid(&xml);
    let cases = cases(&xml);
    let failed: Vec<&Case> = cases.iter().filter(|c| c.2 == "failure").collect();
    assert_eq!(failed.len(), 2, "{cases:#?}");
    let claim = failed
        .iter()
        .find(|c| c.1.contains("scanlogd stays <silent> & \"quiet\""))
        .unwrap();
    assert_eq!(claim.3, "scanlogd: 1 alerts (expected <= 0)");
    assert!(
        claim.4.contains("claim: scanlogd stays <silent>"),
        "{}",
        claim.4
    );
    assert!(
        claim
            .4
            .contains(&format!("written at: {}:", scenario.display())),
        "{}",
        claim.4
    );
    assert!(
        claim
            .4
            .contains("scanlogd: 1 alert(s); scanners flagged 1/1; benign sources flagged 0/1"),
        "{}",
        claim.4
    );
    let verdict = failed
        .iter()
        .find(|c| c.1.ends_with("verdicts match the snapshot"))
        .unwrap();
    assert!(verdict.3.ends_with(": scanlogd"), "{}", verdict.3);
    assert!(
        verdict
            .4
            .contains("--- snapshot: scanlogd\nscanlogd: alerts 2 |")
    );
    assert!(verdict.4.contains("+++ this run:\nscanlogd: alerts 1 |"));
    // Without snapshots the verdict case is skipped, saying why.
    let xml = junit(&[scenario.to_str().unwrap()]);
    assert_schema_valid(&xml);
    let skipped: Vec<Case> = cases_of_kind(&xml, "skipped");
    assert_eq!(skipped.len(), 1);
    assert!(
        skipped[0].3.contains("no snapshot directory"),
        "{:?}",
        skipped[0]
    );
    assert!(skipped[0].5.starts_with("scenario syn-scan-t3 seed 33"));
}

fn cases_of_kind(xml: &str, kind: &str) -> Vec<Case> {
    cases(xml).into_iter().filter(|c| c.2 == kind).collect()
}
