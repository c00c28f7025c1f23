//! Build script: the commit `--version` prints, and the built-in scenario
//! suite embedded in the binary (so an installed binary runs it anywhere).

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `abc1234`, `abc1234-dirty`, or `unknown` outside a git checkout (a
/// crates.io build).
fn commit() -> String {
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, packed refs.
    for p in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={path}");
    }
    hash
}

/// `scenarios/*.toml` as `(file name, absolute path)`, sorted.
fn suite(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .filter_map(|p| {
                    let name = p.file_name()?.to_string_lossy().into_owned();
                    Some((name, std::fs::canonicalize(&p).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn main() {
    println!("cargo:rustc-env=SCANBENCH_COMMIT={}", commit());
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("scenarios");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut code = String::from(
        "/// The built-in suite: (file name, text) of every `scenarios/*.toml`, sorted.\n\
         pub static SUITE: &[(&str, &str)] = &[\n",
    );
    for (name, path) in suite(&dir) {
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("suite.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
