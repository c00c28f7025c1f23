//! Every command of README.md works when pasted in order (issue 14).
//!
//! The rules, for whoever adds a block to the README:
//!
//! - Only fenced blocks whose info string starts with `sh` are run; other
//!   blocks (diagrams, TOML, JSON) are text.
//! - A block fenced as ```` ```sh no-run: REASON ```` is not run; the test
//!   prints `SKIPPED ... REASON` (through `common::skip`, so it shows in the
//!   normal `cargo test` output). Use it for what needs root, the network, a
//!   long time, or writes outside the working directory, and say which.
//! - The runnable blocks run in order, each as one `bash -euo pipefail`
//!   script (so a failing command anywhere in a pipeline fails the block), all
//!   in one fresh temporary directory: a block may use files an earlier one
//!   wrote, and must create what it reads (write relative paths, not `/tmp`).
//! - `cargo run --release --` runs the binary under test (the one `cargo
//!   test` built), and a line starting with `cargo test` is skipped (it is the
//!   command running this test).
//! - A block needing a program that is not installed (tshark, say) is
//!   skipped with that reason; `.ci/run` installs every one the README uses.
//! - Every block must exit 0 within [`BLOCK_TIMEOUT`].

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

/// Longest a block may run (the debug binary is slower than a release one).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// One fenced `sh` block of the README.
struct Block {
    /// 1-based line of its opening fence.
    line: usize,
    /// `Some(reason)` for `sh no-run: reason`.
    no_run: Option<String>,
    text: String,
}

/// The `sh` blocks of `readme`, which [`strip_fences`] has cleared of every
/// other fenced block.
fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in readme.lines().enumerate() {
        match (current.as_mut(), line.trim_start().strip_prefix("```")) {
            (Some(_), Some("")) => out.extend(current.take()),
            (Some(b), _) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, Some(info)) => {
                let no_run = info.find("no-run").map(|at| {
                    info[at + "no-run".len()..]
                        .trim_start_matches(':')
                        .trim()
                        .to_string()
                });
                current = Some(Block {
                    line: i + 1,
                    no_run,
                    text: String::new(),
                });
            }
            (None, None) => {}
        }
    }
    out
}

/// The README with non-`sh` fenced blocks blanked out, so that their closing
/// fences do not open a block.
fn strip_fences(readme: &str) -> String {
    let mut out = String::new();
    let mut inside_other = false;
    let mut inside_sh = false;
    for line in readme.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match fence {
            Some(info) if !inside_other && !inside_sh => {
                if info.starts_with("sh") {
                    inside_sh = true;
                    out.push_str(line);
                } else {
                    inside_other = true;
                }
            }
            // A closing fence has no info string (CommonMark).
            Some("") if inside_sh => {
                inside_sh = false;
                out.push_str(line);
            }
            Some("") => inside_other = false,
            _ if inside_other => {}
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The programs a script runs: the first word of every command (after `|`,
/// `&&`, `;` and line starts), not counting shell builtins and comments.
fn programs(script: &str) -> Vec<String> {
    const BUILTIN: &[&str] = &["echo", "cd", "test", "[", ":", "printf", "export", "true"];
    let mut out = Vec::new();
    for line in script.lines() {
        let code = line.split(" #").next().unwrap_or(line).trim();
        if code.is_empty() || code.starts_with('#') {
            continue;
        }
        for part in code.split(['|', ';']).flat_map(|p| p.split("&&")) {
            let Some(word) = part.split_whitespace().next() else {
                continue;
            };
            if !BUILTIN.contains(&word) && !word.starts_with('"') && !word.starts_with('-') {
                out.push(word.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Joins continued lines and makes the substitutions the module docs name.
fn script_of(block: &str) -> String {
    let joined = block.replace("\\\n", " ");
    joined
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("cargo test") {
                ": # cargo test: the command running this test".to_string()
            } else {
                l.replace("cargo run --release --", "\"$SCANBENCH\"")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_readme_command_block_runs_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = sh_blocks(&strip_fences(&readme));
    assert!(blocks.len() >= 3, "only {} sh blocks found", blocks.len());
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for b in &blocks {
        let name = format!("README.md:{}", b.line);
        if let Some(reason) = &b.no_run {
            assert!(!reason.is_empty(), "{name}: `no-run` needs a reason");
            common::skip(
                "every_readme_command_block_runs_in_order",
                &format!("{name}: {reason}"),
            );
            continue;
        }
        let script = script_of(&b.text);
        let missing: Vec<String> = programs(&script)
            .into_iter()
            .filter(|p| p != "\"$SCANBENCH\"" && !installed(p))
            .collect();
        if !missing.is_empty() {
            common::skip(
                "every_readme_command_block_runs_in_order",
                &format!("{name}: needs {} (.ci/run installs it)", missing.join(", ")),
            );
            continue;
        }
        let started = Instant::now();
        let mut child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .env("SCANBENCH", env!("CARGO_BIN_EXE_scanbench"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bash runs");
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if started.elapsed() > BLOCK_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name}: still running after {BLOCK_TIMEOUT:?}:\n{script}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        assert!(
            status.success(),
            "{name}: exit {status}\n--- script:\n{script}\n--- stderr (end):\n{}",
            &err[err.len().saturating_sub(4000)..]
        );
        ran += 1;
    }
    assert!(ran >= 2, "only {ran} README blocks ran");
}

#[test]
fn the_rules_hold_on_a_made_up_readme() {
    let text = "x\n```sh\ncargo run --release -- list \\\n  sweep\ncargo test --workspace\n```\n\
                ```toml\n```sh\n```\n```sh no-run: needs root\nip netns add x\n```\n";
    let blocks = sh_blocks(&strip_fences(text));
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].line, 2);
    let s = script_of(&blocks[0].text);
    assert!(s.starts_with("\"$SCANBENCH\" list    sweep"), "{s}");
    assert!(s.contains(": # cargo test"), "{s}");
    assert_eq!(blocks[1].no_run.as_deref(), Some("needs root"));
    assert_eq!(
        programs("tshark -r x | head -3 # comment\necho hi && jq . x"),
        ["head", "jq", "tshark"]
    );
}
