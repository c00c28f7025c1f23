//! The scale-out examples of `docs/scale-out.md` are right: the Kubernetes
//! manifests parse as YAML with the Indexed Job wiring consistent, the
//! Slurm scripts pass `bash -n`, and both are run here the way the
//! schedulers would run them (one process per array task or completion
//! index, then the merge), giving the report of the unsharded sweep, byte
//! for byte, with 8 Slurm shards and with 4 Kubernetes ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// The sweep both examples run.
const SWEEP: &str = "sweep scanlogd --param scan_weight_threshold=6..30:6 --seeds 3";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn example(name: &str) -> String {
    std::fs::read_to_string(root().join("docs/scale-out").join(name)).unwrap()
}

/// A directory whose `scanbench` is the binary under test, for PATH.
fn bin_dir(tmp: &Path) -> String {
    let dir = tmp.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scanbench"), dir.join("scanbench")).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `program args` in the repository with `env`; it must succeed.
fn sh(program: &str, args: &[&str], env: &[(&str, String)]) {
    let o = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{program} {args:?} {env:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn docs(name: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&example(name))
        .unwrap_or_else(|e| panic!("docs/scale-out/{name}: {e}"))
}

/// The `SHARDS` value and the shell script of a Job's only container.
fn container(job: &Yaml) -> (i64, String) {
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"][0].as_str(), Some("/bin/sh"));
    let shards = c["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("SHARDS"))
        .and_then(|e| e["value"].as_str())
        .and_then(|v| v.parse().ok())
        .expect("SHARDS in the container's env");
    (shards, c["args"][0].as_str().unwrap().to_string())
}

#[test]
fn kubernetes_indexed_job_parses_and_is_consistent() {
    let sweep = docs("sweep-indexed-job.yaml");
    let kinds: Vec<&str> = sweep.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["PersistentVolumeClaim", "Job"]);
    let job = &sweep[1];
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    let (shards, script) = container(job);
    assert_eq!(job["spec"]["completions"].as_i64(), Some(shards));
    assert_eq!(job["spec"]["parallelism"].as_i64(), Some(shards));
    assert!(script.contains("--shard \"$((JOB_COMPLETION_INDEX + 1))/$SHARDS\""));
    assert!(script.contains(SWEEP), "{script}");
    let merge = docs("sweep-merge-job.yaml");
    assert_eq!(merge.len(), 1);
    assert_eq!(container(&merge[0]).0, shards);
    // Both Jobs mount the claim the first file creates.
    let claim = sweep[0]["metadata"]["name"].as_str().unwrap();
    for j in [job, &merge[0]] {
        assert_eq!(
            j["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
                .as_str(),
            Some(claim)
        );
    }
}

/// `N` of `#SBATCH --array=0-(N-1)`.
fn array_size(script: &str) -> usize {
    let range = script
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .expect("an #SBATCH --array line");
    let (lo, hi) = range.split_once('-').unwrap();
    assert_eq!(lo, "0");
    hi.parse::<usize>().unwrap() + 1
}

#[test]
fn slurm_scripts_are_valid_bash_and_agree() {
    for f in ["sweep.slurm", "merge.slurm"] {
        sh("bash", &["-n", &format!("docs/scale-out/{f}")], &[]);
    }
    let sweep = example("sweep.slurm");
    assert!(sweep.contains(SWEEP), "{sweep}");
    assert!(sweep.contains("SLURM_ARRAY_TASK_ID"));
    let n = array_size(&sweep);
    assert!(
        example("merge.slurm").contains(&format!("SHARDS=${{SHARDS:-{n}}}")),
        "merge.slurm's default SHARDS must be the array size {n}"
    );
}

#[test]
fn both_schedulers_reproduce_the_unsharded_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let path = bin_dir(tmp.path());
    let out = |d: &str| -> PathBuf { tmp.path().join(d) };

    // Slurm: every array task, then the merge.
    let n = array_size(&example("sweep.slurm"));
    for id in 0..n {
        sh(
            "bash",
            &["docs/scale-out/sweep.slurm"],
            &[
                ("PATH", path.clone()),
                ("OUT", out("slurm").display().to_string()),
                ("SLURM_ARRAY_TASK_ID", id.to_string()),
                ("SLURM_ARRAY_TASK_MIN", "0".into()),
                ("SLURM_ARRAY_TASK_COUNT", n.to_string()),
                ("SLURM_CPUS_PER_TASK", "1".into()),
            ],
        );
    }
    sh(
        "bash",
        &["docs/scale-out/merge.slurm"],
        &[
            ("PATH", path.clone()),
            ("OUT", out("slurm").display().to_string()),
        ],
    );

    // Kubernetes: every completion index's container script, then the merge's.
    let job = &docs("sweep-indexed-job.yaml")[1];
    let (shards, script) = container(job);
    assert_ne!(shards as usize, n, "the two examples shard differently");
    // A container script as the pod runs it, with the Job's env (plus `extra`).
    let pod = |script: &str, extra: &[(&str, String)]| {
        let mut env = vec![
            ("PATH", path.clone()),
            ("RESULTS", out("k8s").display().to_string()),
            ("SHARDS", shards.to_string()),
        ];
        env.extend_from_slice(extra);
        sh("/bin/sh", &["-c", script], &env);
    };
    for index in 0..shards {
        pod(&script, &[("JOB_COMPLETION_INDEX", index.to_string())]);
    }
    pod(&container(&docs("sweep-merge-job.yaml")[0]).1, &[]);

    // The unsharded sweep.
    let mut args: Vec<&str> = SWEEP.split(' ').collect();
    let whole = out("whole");
    args.extend(["--out", whole.to_str().unwrap()]);
    sh(env!("CARGO_BIN_EXE_scanbench"), &args, &[]);

    for f in ["sweep.json", "sweep.csv", "sweep.svg", "report.html"] {
        let want = std::fs::read_to_string(whole.join(f)).unwrap();
        for d in ["slurm", "k8s"] {
            let got = std::fs::read_to_string(out(d).join("merged").join(f)).unwrap();
            assert!(
                got == want,
                "{d}/merged/{f} differs from the unsharded sweep"
            );
        }
    }
}
