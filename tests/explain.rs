//! `scanbench explain` on the built-in scenarios: every alert is explained
//! by the rule its detector states, the packets behind it (with their roles
//! read from the capture and their labels) and a diagnosis naming the cause.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scanbench"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("scanbench runs")
}

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
            matches!(p.role, Some(Role::Late { idle_us }) if idle_us > 1_800_000_000),
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
    assert!(d.sentence.contains("30 min"), "{}", d.sentence);
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
        "screenos[no-session-any]",
        "--alert",
        "3",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for needle in [
        "#3 screenos[no-session-any] portscan 198.51.100.80 -> 203.0.113.1",
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
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--alert `0`"), "{err}");
}
