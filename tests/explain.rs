//! `scanbench explain` on the built-in scenarios: every alert is explained
//! by the rule its detector states, the packets behind it (with their roles
//! read from the capture and their labels) and a diagnosis naming the cause.

use std::path::{Path, PathBuf};

use scanbench::Scenario;
use scanbench::detect::default_suite;
use scanbench::explain::roles::Role;
use scanbench::explain::{Explanation, Filters, explain_scenario};

fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

fn explain(name: &str, filters: &Filters) -> Explanation {
    let sc = Scenario::load(&scenario_path(name)).expect("scenario loads");
    explain_scenario(&sc, sc.seed, &default_suite(), filters).expect("explains")
}

mod common;
use common::scanbench as cli;

/// The burst balancer: every ScreenOS alert (both count modes that fire)
/// rests on SYN-ACKs the backend sent from its own address, labelled
/// `balancer-misconfig`, and the diagnosis says so.
#[test]
fn balancer_burst_alerts_are_attributed_to_the_balancer() {
    let e = explain("misconfigured-balancer-burst.toml", &Filters::default());
    let screenos: Vec<_> = e
        .alerts
        .iter()
        .filter(|a| a.spec.starts_with("screenos"))
        .collect();
    assert!(screenos.len() >= 2, "{} ScreenOS alerts", screenos.len());
    for a in screenos {
        let d = &a.diagnosis;
        assert_eq!(d.class, "benign", "#{}: {}", a.number, d.sentence);
        assert_eq!(
            d.causes.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            ["balancer-misconfig"],
            "#{}",
            a.number
        );
        assert!(
            d.sentence.contains("balancer lb (VIP 198.51.100.80"),
            "{}",
            d.sentence
        );
        assert!(a.packets.iter().all(|p| matches!(
            p.role,
            Some(Role::WrongSource { asked }) if asked.to_string() == "198.51.100.80"
        )));
        assert_eq!(a.true_positive, Some(false));
    }
}

/// The NetScreen case: the NO_SESSION_ANY alert counts late pushes the
/// perimeter dropped after its 30 min timeout. The rule text comes from the
/// detector; the packets' labels at the sensor say `session`, the drop log
/// says `state-loss`, and the diagnosis uses the latter.
#[test]
fn netscreen_no_session_any_alert_is_state_loss() {
    let e = explain(
        "netscreen-webmail.toml",
        &Filters {
            detectors: vec!["screenos:count_mode=no-session-any".into()],
            ..Filters::default()
        },
    );
    let first = e.alerts.first().expect("an alert");
    let rule = &first.alert.evidence.rule;
    assert!(
        rule.statement.starts_with(
            "ScreenOS port-scan screen: 10 distinct destination ports from 198.51.100.80 to 203.0.113.1"
        ),
        "{}",
        rule.statement
    );
    assert!(rule.counted.contains("count_mode=no-session-any"));
    assert_eq!(first.packets.len(), 10);
    for p in &first.packets {
        assert_eq!(p.label.as_ref().map(|l| l.cause.as_str()), Some("session"));
        let fate = p.fate.as_ref().expect("dropped by gw");
        assert_eq!(fate.dropped_by, "gw");
        assert_eq!(
            fate.label.as_ref().map(|l| l.cause.as_str()),
            Some("state-loss")
        );
        assert!(
            matches!(p.role, Some(Role::Late { idle_us, .. }) if idle_us > 1_800_000_000),
            "{:?}",
            p.role
        );
        assert!(
            p.counted_as
                .as_deref()
                .is_some_and(|k| k.starts_with("port "))
        );
    }
    let d = &first.diagnosis;
    assert_eq!(d.causes, [("state-loss".to_string(), 10)]);
    assert_eq!(d.actors, ["user1", "user2", "user3"]);
    assert!(
        d.sentence.contains("gw dropped them for state it had lost"),
        "{}",
        d.sentence
    );
    assert!(d.sentence.contains("30m"), "{}", d.sentence);
}

/// The default screen alerts on the push connections' own setup: SYN-ACKs
/// answering the company's SYNs, replies within connections it opened.
#[test]
fn netscreen_syn_set_alert_is_replies_to_the_companys_own_connections() {
    let e = explain(
        "netscreen-webmail.toml",
        &Filters {
            detectors: vec!["screenos".into()],
            ..Filters::default()
        },
    );
    let first = e.alerts.first().expect("an alert");
    assert!(first.packets.iter().all(|p| p.role == Some(Role::Answer)));
    assert!(
        first
            .diagnosis
            .sentence
            .contains("replies within connections 203.0.113.1 itself opened"),
        "{}",
        first.diagnosis.sentence
    );
}

/// Numbers are global (the unfiltered listing), so `--alert N` finds the
/// alert a full listing showed as #N; `--source` keeps only one address.
#[test]
fn filters_keep_the_numbering() {
    let all = explain("mixed-office.toml", &Filters::default());
    assert_eq!(all.alerts.len(), all.total_alerts);
    let third = &all.alerts[2];
    let one = explain(
        "mixed-office.toml",
        &Filters {
            alert: Some(3),
            ..Filters::default()
        },
    );
    assert_eq!(one.alerts.len(), 1);
    assert_eq!(one.alerts[0].number, 3);
    assert_eq!(one.alerts[0].alert, third.alert);
    let scanner = "203.0.113.66".parse().unwrap();
    let by_source = explain(
        "mixed-office.toml",
        &Filters {
            source: Some(scanner),
            ..Filters::default()
        },
    );
    assert!(!by_source.alerts.is_empty());
    assert!(by_source.alerts.iter().all(|a| a.alert.scanner == scanner));
    assert!(
        by_source
            .alerts
            .iter()
            .all(|a| a.true_positive == Some(true))
    );
    assert!(by_source.alerts.len() < all.alerts.len());
}

#[test]
fn cli_prints_rule_packets_and_diagnosis() {
    let o = cli(&[
        "explain",
        "scenarios/netscreen-webmail.toml",
        "--detector",
        "screenos:count_mode=no-session-any",
        "--alert",
        "3",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for needle in [
        "#3 screenos:count_mode=no-session-any portscan 198.51.100.80 -> 203.0.113.1",
        "rule:      ScreenOS port-scan screen: 10 distinct destination ports",
        "window:    1861.",
        "198.51.100.80:80 -> 203.0.113.1:8192",
        "dropped by gw as state-loss",
        "diagnosis: benign:",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }
}

#[test]
fn cli_rejects_a_bad_alert_number() {
    let o = cli(&[
        "explain",
        "scenarios/netscreen-webmail.toml",
        "--alert",
        "0",
    ]);
    // A bad flag value is a usage error (README "Exit codes").
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--alert `0`"), "{err}");
}

// ---------------------------------------------------------------------------
// Counterfactuals and the minimal fix
// ---------------------------------------------------------------------------

use scanbench::evaluate;
use scanbench::explain::counterfactual::{Fix, Outcome};
use scanbench::scenario::{Switch, Switches, switch::Weight};
use scanbench::simulate::Outputs;

/// The burst balancer fixed (SNAT on): every ScreenOS alert blaming the
/// backend disappears. The same screen then sees the VIP's own SYN-ACKs to
/// the office's twelve parallel connections, a new false alert that
/// appears: so fixing the balancer alone is not a fix, and the minimal fix
/// is the balancer plus serial connection setup.
#[test]
fn balancer_fixed_removes_every_alert_blaming_the_backend() {
    let e = explain("misconfigured-balancer-burst.toml", &Filters::default());
    let fixed = e
        .counterfactuals
        .iter()
        .find(|c| c.switch == Switch::BalancerFixed)
        .expect("balancer-fixed was tried");
    let backend: std::net::Ipv4Addr = "198.51.100.11".parse().unwrap();
    let mut gone = 0;
    for d in fixed
        .detectors
        .iter()
        .filter(|d| d.spec.starts_with("screenos"))
    {
        for c in d.changes.iter().filter(|c| c.key.scanner == backend) {
            assert_eq!(c.outcome(), Outcome::Disappears, "{}: {c:?}", d.spec);
            gone += c.before;
        }
    }
    assert!(gone >= 16, "{gone} ScreenOS alerts gone");
    for a in e.alerts.iter().filter(|a| a.spec.starts_with("screenos")) {
        let key = scanbench::explain::counterfactual::AlertKey::of(&a.alert);
        assert_eq!(
            fixed.change(&a.spec, &key).map(|c| c.outcome()),
            Some(Outcome::Disappears)
        );
    }
    let vip: std::net::Ipv4Addr = "198.51.100.80".parse().unwrap();
    let appeared: Vec<_> = fixed
        .detectors
        .iter()
        .flat_map(|d| &d.changes)
        .filter(|c| c.outcome() == Outcome::Appears)
        .collect();
    assert!(
        !appeared.is_empty()
            && appeared
                .iter()
                .all(|c| c.key.scanner == vip && !c.true_alert),
        "{appeared:?}"
    );
    match e.fix {
        Some(Fix::NoSingleSwitch {
            pair: Some((a, b, t)),
            ..
        }) => {
            assert_eq!((a, b), (Switch::BalancerFixed, Switch::Serial));
            assert_eq!(t.false_after, 0);
        }
        other => panic!("{other:?}"),
    }
}

/// The mixed office with the scanner removed: every true alert disappears,
/// and the benign ones are exactly as they were (same alerts, same times,
/// same log lines), because every component draws from its own stream.
#[test]
fn scanner_removed_removes_the_true_alerts_and_leaves_the_benign_ones() {
    let e = explain("mixed-office.toml", &Filters::default());
    let no_scan = e
        .counterfactuals
        .iter()
        .find(|c| c.switch == Switch::Remove("scan".into()))
        .expect("no-scan was tried");
    let mut trues = 0;
    let mut falses = 0;
    for c in no_scan.detectors.iter().flat_map(|d| &d.changes) {
        if c.true_alert {
            trues += 1;
            assert_eq!(c.outcome(), Outcome::Disappears, "{c:?}");
        } else {
            falses += 1;
            assert_eq!(c.before, c.after, "{c:?}");
        }
    }
    assert!(
        trues >= 4 && falses >= 2,
        "{trues} true, {falses} false keys"
    );
    // Alert for alert, the benign ones are the same.
    let sc = Scenario::load(&scenario_path("mixed-office.toml")).unwrap();
    let specs = default_suite();
    let before = evaluate(&sc, sc.seed, &specs, &Outputs::default()).unwrap();
    let switched = sc.with_switches(Switches::from([Switch::Remove("scan".into())]));
    let after = evaluate(&switched, sc.seed, &specs, &Outputs::default()).unwrap();
    for (b, a) in before.detectors.iter().zip(&after.detectors) {
        let benign = |d: &scanbench::evaluate::DetectorRun| {
            d.alerts
                .iter()
                .filter(|x| !x.blames_scanner)
                .map(|x| {
                    (
                        x.alert.time,
                        x.alert.scanner,
                        x.alert.evidence.log_line.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(benign(b), benign(a), "{}", b.spec);
        assert!(a.alerts.iter().all(|x| !x.blames_scanner), "{}", a.spec);
    }
    // Two benign causes, two switches: no single one fixes the office.
    match &e.fix {
        Some(Fix::NoSingleSwitch {
            pair: Some((a, b, _)),
            ..
        }) => assert_eq!((a, b), (&Switch::BalancerFixed, &Switch::NoStateLoss)),
        other => panic!("{other:?}"),
    }
}

/// Where one switch fixes it, it is reported: the sparse balancer's only
/// false alerts (psad with its conntrack filter off) go with the balancer
/// fixed, a configuration change.
#[test]
fn the_minimal_fix_is_reported_where_one_exists() {
    let e = explain("misconfigured-balancer-sparse.toml", &Filters::default());
    match e.fix {
        Some(Fix::Found {
            switch,
            weight,
            tally,
            ..
        }) => {
            assert_eq!(switch, Switch::BalancerFixed);
            assert_eq!(weight, Weight::Configuration);
            assert!(tally.false_before > 0 && tally.false_after == 0);
        }
        other => panic!("{other:?}"),
    }
    let clean = explain("syn-scan-t4.toml", &Filters::default());
    assert_eq!(clean.fix, Some(Fix::NothingToFix));
}

/// Same scenario, same seed, same explanation, text byte for byte.
#[test]
fn explain_is_deterministic() {
    let a = explain("netscreen-webmail.toml", &Filters::default());
    let b = explain("netscreen-webmail.toml", &Filters::default());
    assert_eq!(
        scanbench::explain::text::render(&a),
        scanbench::explain::text::render(&b)
    );
}

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

/// The JSON document is stable: its full text for one alert of the NetScreen
/// case is a reviewed snapshot (fields are only ever added; a change of
/// meaning bumps `version`), and its shape is asserted field by field.
#[test]
fn json_is_stable() {
    let sc = Scenario::load(Path::new("scenarios/netscreen-webmail.toml")).unwrap();
    let filters = Filters {
        detectors: vec!["screenos:count_mode=no-session-any".into()],
        alert: Some(3),
        source: None,
    };
    let e = explain_scenario(&sc, sc.seed, &default_suite(), &filters).unwrap();
    let text = e.render(scanbench::explain::ExplainFormat::Json);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["format"], "scanbench-explain");
    assert_eq!(v["version"], 1);
    assert_eq!(v["input"]["kind"], "scenario");
    assert_eq!(v["input"]["seed"], 70);
    let a = &v["alerts"][0];
    assert_eq!(a["number"], 3);
    assert_eq!(a["detector"]["spec"], "screenos:count_mode=no-session-any");
    assert!(
        a["rule"]["statement"]
            .as_str()
            .unwrap()
            .starts_with("ScreenOS port-scan screen")
    );
    assert_eq!(a["rule"]["keys"].as_array().unwrap().len(), 10);
    assert_eq!(a["packets"].as_array().unwrap().len(), 10);
    assert_eq!(a["packets"][0]["role"]["name"], "late");
    assert_eq!(a["packets"][0]["fate"]["label"]["cause"], "state-loss");
    assert_eq!(a["diagnosis"]["causes"][0]["cause"], "state-loss");
    assert!(v["counterfactuals"].as_array().unwrap().len() >= 2);
    assert!(v["fix"]["status"].is_string());
    insta::assert_snapshot!("explain_json_netscreen_alert_3", text);
}

#[test]
fn markdown_has_the_alert_the_counterfactuals_and_the_fix() {
    let o = cli(&[
        "explain",
        "scenarios/misconfigured-balancer-sparse.toml",
        "--format",
        "markdown",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "# explain: misconfigured-balancer-sparse (seed 11)",
        "## Alerts",
        "- **Rule:** psad: danger level",
        "| frame | time (s) | packet | flags | counted as | role | label |",
        "## Counterfactuals",
        "### `balancer-fixed`: balancer-misconfig off",
        "## Minimal fix",
        "`balancer-fixed`: balancer fixed",
    ] {
        assert!(md.contains(needle), "missing `{needle}` in:\n{md}");
    }
}

// ---------------------------------------------------------------------------
// Captures with labels
// ---------------------------------------------------------------------------

/// A labelled capture (pcapng with label comments, as `run --pcapng` writes
/// it) is explained like the scenario, from the labels, without
/// counterfactuals (there is no scenario to rerun).
#[test]
fn labelled_capture_is_explained_from_its_labels() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("burst.pcapng");
    let o = cli(&[
        "run",
        "scenarios/misconfigured-balancer-burst.toml",
        "--no-detectors",
        "--pcapng",
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let outside = dir.path().join("burst.outside.pcapng");
    let opts = scanbench::explain::CaptureOptions {
        specs: vec!["screenos".into()],
        ..Default::default()
    };
    let (e, damage) =
        scanbench::explain::explain_capture(&outside, &opts, &Filters::default()).unwrap();
    assert!(damage.is_none());
    assert!(matches!(
        e.input,
        scanbench::explain::Input::Capture { labelled: true, .. }
    ));
    assert!(!e.alerts.is_empty());
    for a in &e.alerts {
        assert_eq!(a.diagnosis.class, "benign");
        assert_eq!(a.diagnosis.causes[0].0, "balancer-misconfig");
        assert_eq!(a.true_positive, Some(false));
    }
    assert!(e.counterfactuals.is_empty() && e.fix.is_none() && e.sources.is_empty());
}
