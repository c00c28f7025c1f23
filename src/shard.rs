//! Sharded runs: `--shard K/N` takes a deterministic slice of the jobs, and
//! [`merge`] puts the slices' JSON reports back together into the report an
//! unsharded run gives, byte for byte.
//!
//! The jobs of `run` are its (scenario, seed) runs, those of `sweep` its
//! (scenario, seed, parameter point) runs, both in their canonical order.
//! Shard K of N owns the jobs whose index `i` has `i mod N = K - 1`: the
//! slice depends only on the job list, never on the machine or the thread
//! count, and interleaving spreads cheap and costly scenarios over every
//! shard. A shard's JSON report is the ordinary report of its jobs plus a
//! `shard` object naming the slice and the index of each of its runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, 1..=N.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl Shard {
    /// The job with canonical index `job` belongs to this shard.
    pub fn owns(&self, job: usize) -> bool {
        job % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Shard> {
        let bad = |why: &str| Error::Argument(format!("--shard {s}: {why}"));
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected K/N, e.g. 1/3"))?;
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| bad("K is not a whole number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if n == 0 || k == 0 || k > n {
            return Err(bad("expected 1 <= K <= N"));
        }
        Ok(Shard { index: k, count: n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Adds the `shard` object to a JSON report `doc` holding the runs of the
/// jobs `jobs` (canonical indices, in the order of the document's `runs`)
/// out of `jobs_total`.
pub fn annotate(doc: &mut Value, shard: Shard, jobs_total: usize, jobs: &[usize]) {
    doc["shard"] = json!({
        "index": shard.index,
        "count": shard.count,
        "jobs_total": jobs_total,
        "jobs": jobs,
    });
}

/// Keys of a report that are computed from its runs: they differ between
/// shards and are recomputed after merging.
fn derived_keys(format: &str) -> &'static [&'static str] {
    if format == crate::sweep::render::FORMAT {
        &["points"]
    } else {
        &[]
    }
}

fn input(path: &Path, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line: None,
        message: message.into(),
    }
}

/// One shard document, taken apart.
struct Part<'a> {
    path: &'a Path,
    header: Map<String, Value>,
    shard: Shard,
    jobs_total: usize,
    runs: Vec<(usize, Value)>,
}

fn part<'a>(path: &'a Path, doc: &Value) -> Result<Part<'a>> {
    let Some(obj) = doc.as_object() else {
        return Err(input(path, "not a JSON object"));
    };
    let format = obj.get("format").and_then(Value::as_str).unwrap_or("");
    let Some(shard) = obj.get("shard") else {
        return Err(input(
            path,
            "no `shard` object: not the report of a --shard run",
        ));
    };
    let num = |key: &str| -> Result<usize> {
        shard
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| input(path, format!("`shard.{key}` is not a whole number")))
    };
    let (index, count, jobs_total) = (num("index")?, num("count")?, num("jobs_total")?);
    if count == 0 || index == 0 || index > count {
        return Err(input(path, format!("bad shard {index}/{count}")));
    }
    let jobs: Vec<usize> = shard
        .get("jobs")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|j| j.as_u64().and_then(|n| usize::try_from(n).ok()))
                .collect()
        })
        .ok_or_else(|| input(path, "`shard.jobs` is not a list of job indices"))?;
    let runs = obj
        .get("runs")
        .and_then(Value::as_array)
        .ok_or_else(|| input(path, "no `runs` list"))?;
    if runs.len() != jobs.len() {
        return Err(input(
            path,
            format!("{} runs but `shard.jobs` lists {}", runs.len(), jobs.len()),
        ));
    }
    let shard = Shard { index, count };
    if let Some(&j) = jobs.iter().find(|&&j| j >= jobs_total || !shard.owns(j)) {
        return Err(input(
            path,
            format!("job {j} does not belong to shard {shard} of {jobs_total} jobs"),
        ));
    }
    let mut header = obj.clone();
    header.remove("runs");
    header.remove("shard");
    for k in derived_keys(format) {
        header.remove(*k);
    }
    Ok(Part {
        path,
        header,
        shard,
        jobs_total,
        runs: jobs.into_iter().zip(runs.iter().cloned()).collect(),
    })
}

/// Merges the JSON reports of shard runs (`(file, document)` pairs) into
/// the report of the unsharded run: the common header, every run in
/// canonical job order, no `shard` object. Keys computed from the runs (a
/// sweep's `points`) are left out for the caller to recompute.
///
/// # Errors
/// [`Error::Input`] naming the file when a document is not a shard report,
/// when reports come from different runs (another detector set, scenario
/// list, grid or version), when a job is in two files, or when jobs are
/// missing (naming the shards that hold them).
pub fn merge(docs: &[(PathBuf, Value)]) -> Result<Value> {
    let Some((first_path, first_doc)) = docs.first() else {
        return Err(Error::Argument("merge: no report given".into()));
    };
    let first = part(first_path, first_doc)?;
    // Job indices come from the files: collect what is there (bounded by the
    // input), never a slot per claimed job.
    let mut found: BTreeMap<usize, (&Path, Value)> = BTreeMap::new();
    for (path, doc) in docs {
        let p = part(path, doc)?;
        if p.shard.count != first.shard.count || p.jobs_total != first.jobs_total {
            return Err(input(
                path,
                format!(
                    "shard {} of {} jobs, but {} is shard {} of {} jobs",
                    p.shard,
                    p.jobs_total,
                    first.path.display(),
                    first.shard,
                    first.jobs_total
                ),
            ));
        }
        if let Some(key) = p
            .header
            .keys()
            .chain(first.header.keys())
            .find(|k| p.header.get(*k) != first.header.get(*k))
        {
            return Err(input(
                path,
                format!(
                    "`{key}` differs from {}: the reports are not shards of one run",
                    first.path.display()
                ),
            ));
        }
        for (j, run) in p.runs {
            if let Some((other, _)) = found.get(&j) {
                return Err(input(
                    path,
                    format!("job {j} is also in {}", other.display()),
                ));
            }
            found.insert(j, (p.path, run));
        }
    }
    if found.len() != first.jobs_total {
        let n = first.shard.count;
        // The jobs shard k owns: i < jobs_total with i mod n = k - 1.
        let owned = |k: usize| first.jobs_total / n + usize::from(k - 1 < first.jobs_total % n);
        let mut have: BTreeMap<usize, usize> = BTreeMap::new();
        for j in found.keys() {
            *have.entry(j % n + 1).or_default() += 1;
        }
        // A shard without a file comes within the first few indices, so this
        // stops early however large the shard count is.
        let short: Vec<String> = (1..=n.min(first.jobs_total))
            .filter(|&k| have.get(&k).copied().unwrap_or(0) < owned(k))
            .take(10)
            .map(|k| format!("{k}/{n}"))
            .collect();
        return Err(Error::Argument(format!(
            "merge: {} of {} jobs missing; give the reports of shard(s) {}",
            first.jobs_total - found.len(),
            first.jobs_total,
            short.join(", ")
        )));
    }
    let mut out = first.header.clone();
    out.insert(
        "runs".into(),
        Value::Array(found.into_values().map(|(_, v)| v).collect()),
    );
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_jobs() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for job in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.owns(job)).count(), 1);
        }
        assert_eq!(shards[1].to_string(), "2/3");
    }

    #[test]
    fn bad_shard_text_says_what_is_expected() {
        for (text, msg) in [
            ("3", "expected K/N"),
            ("0/3", "1 <= K <= N"),
            ("4/3", "1 <= K <= N"),
            ("1/0", "1 <= K <= N"),
            ("a/3", "K is not"),
            ("1/-3", "N is not"),
        ] {
            let err = text.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(msg), "{text}: {err}");
        }
    }

    fn doc(k: usize, runs: &[usize], total: usize) -> (PathBuf, Value) {
        let mut d = json!({
            "format": "scanbench-report",
            "detectors": ["scanlogd"],
            "runs": runs.iter().map(|j| json!({"job": j})).collect::<Vec<_>>(),
        });
        annotate(&mut d, Shard { index: k, count: 2 }, total, runs);
        (PathBuf::from(format!("s{k}.json")), d)
    }

    #[test]
    fn merge_orders_runs_and_rejects_gaps_overlaps_and_strangers() {
        let merged = merge(&[doc(2, &[1, 3], 5), doc(1, &[0, 2, 4], 5)]).unwrap();
        let jobs: Vec<u64> = merged["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["job"].as_u64().unwrap())
            .collect();
        assert_eq!(jobs, [0, 1, 2, 3, 4]);
        assert!(merged.get("shard").is_none());

        let err = merge(&[doc(1, &[0, 2, 4], 5)]).unwrap_err().to_string();
        assert!(
            err.contains("2 of 5 jobs missing") && err.contains("2/2"),
            "{err}"
        );
        let err = merge(&[doc(1, &[0, 2, 4], 5), doc(1, &[0, 2, 4], 5)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("job 0 is also in s1.json"), "{err}");
        let (p, mut other) = doc(2, &[1, 3], 5);
        other["detectors"] = json!(["psad"]);
        let err = merge(&[doc(1, &[0, 2, 4], 5), (p, other)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`detectors` differs"), "{err}");
        let err = merge(&[(PathBuf::from("x.json"), json!({"runs": []}))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.json: no `shard` object"), "{err}");
        let err = merge(&[doc(2, &[0], 5)]).unwrap_err().to_string();
        assert!(err.contains("job 0 does not belong to shard 2/2"), "{err}");
        // A forged job count is answered without a slot per claimed job.
        let (p, mut huge) = doc(1, &[0], 5);
        huge["shard"]["jobs_total"] = json!(u64::MAX);
        huge["shard"]["count"] = json!(u64::MAX - 1);
        let err = merge(&[(p, huge)]).unwrap_err().to_string();
        assert!(err.contains(&format!("2/{}", u64::MAX - 1)), "{err}");
    }
}
