//! Every scenario of the suite writes captures tshark reads clean, and a
//! label for every frame of every tap.
//!
//! "Clean": no malformed packet, no bad IP or TCP checksum, and no expert
//! warning except these, each of which is the scenario's subject on the wire,
//! not a defect of the capture:
//! - `tcp.connection.rst`: resets (closed ports, clients refusing stray SYN-ACKs);
//! - `tcp.analysis.lost_segment` ("previous segment not captured"): a
//!   sessionless segment, e.g. a balancer's SYN-ACK whose SYN went to the VIP,
//!   or a push after a firewall lost the connection's state.
//!
//! The note `tcp.ack.nonzero` ("acknowledgment number nonzero while ACK flag
//! is not set") counts as dirty too: a reset without ACK carries ack 0, as
//! the scanner's kernel sends it.

mod common;

use std::path::Path;

use common::{have_tshark, tshark_matches};
use scanbench::{Outputs, Scenario, simulate};

const DIRTY: &str = "_ws.malformed or tcp.checksum.status == 0 or ip.checksum.status == 0 \
    or tcp.ack.nonzero \
    or (_ws.expert.severity >= warning and not tcp.connection.rst \
        and not tcp.analysis.lost_segment)";

#[test]
fn every_scenario_capture_is_clean_and_fully_labelled() {
    let have_tshark = have_tshark();
    if !have_tshark {
        common::skip(
            "every_scenario_capture_is_clean_and_fully_labelled",
            "the tshark half: tshark is not installed (.ci/run installs it)",
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(root).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let sc = Scenario::load(&path).unwrap();
        let outputs = Outputs {
            pcap: Some(dir.path().join(format!("{}.pcap", sc.name))),
            ..Outputs::default()
        };
        let summary = simulate(&sc, sc.seed, &outputs, &mut ()).unwrap();
        for tap in &summary.taps {
            let pcap = tap
                .files
                .iter()
                .find(|f| f.extension().is_some_and(|x| x == "pcap"));
            let labels = tap
                .files
                .iter()
                .find(|f| f.to_string_lossy().ends_with(".labels.jsonl"));
            let (pcap, labels) = (pcap.unwrap(), labels.unwrap());
            let lines = std::fs::read_to_string(labels).unwrap().lines().count() as u64;
            assert_eq!(lines, tap.frames, "{}: a label per frame", labels.display());
            if !have_tshark || tap.frames == 0 {
                continue;
            }
            let dirty = tshark_matches(pcap, DIRTY);
            assert!(
                dirty.is_empty(),
                "{}:\n{}",
                pcap.display(),
                dirty.join("\n")
            );
            checked += 1;
        }
    }
    if have_tshark {
        assert!(checked >= 20, "only {checked} captures checked");
    }
}
