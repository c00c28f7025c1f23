//! `scanbench sweep`: one detector over a grid of parameter values, every
//! point run over the chosen scenarios and seeds, with the trade-off figures
//! a threshold is chosen by (recall, FP rate, benign alerts per hour,
//! latency).
//!
//! - [`grid`]: `--param` parsing and the grid of points;
//! - [`store`]: finished jobs saved under `--out DIR`, so a killed sweep resumes;
//! - [`render`]: the table, CSV and JSON forms (the JSON reads back, for `merge`).
//!
//! A *job* is one (scenario, seed, point). Jobs have a canonical order
//! (scenario, then seed, then point, the last varying fastest), which is what
//! `--shard K/N` slices and what [`crate::shard`] merges back. Jobs that
//! share a scenario and seed share one simulation: the detectors of every
//! point read the same frames, independently of each other, so the result
//! of a job does not depend on which other jobs ran with it.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::evaluate::evaluate;
use crate::parallel::map_ordered;
use crate::scenario::Scenario;
use crate::score::{Pooled, Score};
use crate::shard::Shard;
use crate::simulate::Outputs;

pub mod grid;
pub mod render;
pub mod store;

pub use grid::{Axis, Grid, Point};
pub use store::JobStore;

/// Most jobs one sweep may plan: every job keeps its score in memory.
pub const MAX_JOBS: usize = 1_000_000;

/// What one job measured.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobResult {
    /// The run had a sensor where the detector reads (psad needs a drop log);
    /// runs that had none are left out of the figures.
    pub applicable: bool,
    /// The detector's score on the run.
    pub score: Score,
}

/// A scenario of the sweep and the seeds it runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioEntry {
    /// Scenario name.
    pub name: String,
    /// Scenario file, as given.
    pub file: PathBuf,
    /// Seeds, in run order.
    pub seeds: Vec<u64>,
}

/// One job in canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// Index into [`SweepReport::scenarios`].
    pub scenario: usize,
    /// The seed.
    pub seed: u64,
    /// Index into the grid's points.
    pub point: usize,
}

/// A sweep's plan and what has been measured of it.
#[derive(Clone, Debug)]
pub struct SweepReport {
    /// The detector and its swept parameters.
    pub grid: Grid,
    /// Scenarios with their seeds.
    pub scenarios: Vec<ScenarioEntry>,
    /// One entry per job in canonical order; `None` when the job is not part
    /// of this report (another shard's).
    pub results: Vec<Option<JobResult>>,
    /// The slice of jobs this report covers, when sharded.
    pub shard: Option<Shard>,
}

/// How [`SweepReport::execute`] got its results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Executed {
    /// Jobs run now.
    pub ran: usize,
    /// Jobs whose result was already stored.
    pub reused: usize,
}

/// Figures of one grid point, pooled over its runs.
#[derive(Clone, Debug)]
pub struct PointFigures {
    /// Runs of the point in this report.
    pub runs: u64,
    /// Pooled scores of the runs that had a sensor at the detector's vantage.
    pub pooled: Pooled,
}

impl SweepReport {
    /// The plan of `grid` over `scenarios`, each with `seeds` consecutive
    /// seeds starting at `first_seed` (default: the scenario's own), nothing
    /// measured yet.
    ///
    /// # Errors
    /// [`Error::Argument`] when the plan has more than [`MAX_JOBS`] jobs.
    pub fn plan(
        grid: Grid,
        scenarios: &[Scenario],
        first_seed: Option<u64>,
        seeds: u64,
    ) -> Result<Self> {
        let jobs = u64::try_from(scenarios.len())
            .ok()
            .and_then(|n| n.checked_mul(seeds))
            .and_then(|n| n.checked_mul(grid.points.len() as u64));
        if jobs.is_none_or(|n| n > MAX_JOBS as u64) {
            return Err(Error::Argument(format!(
                "the sweep has more than {MAX_JOBS} jobs ({} scenario(s) x {seeds} seed(s) x {} point(s)): narrow the grid, the scenarios or the seeds",
                scenarios.len(),
                grid.points.len()
            )));
        }
        let scenarios: Vec<ScenarioEntry> = scenarios
            .iter()
            .map(|sc| {
                let first = first_seed.unwrap_or(sc.seed);
                ScenarioEntry {
                    name: sc.name.clone(),
                    file: sc.path.clone(),
                    seeds: (0..seeds).map(|k| first.wrapping_add(k)).collect(),
                }
            })
            .collect();
        let mut report = SweepReport {
            grid,
            scenarios,
            results: Vec::new(),
            shard: None,
        };
        report.results = vec![None; report.jobs().len()];
        Ok(report)
    }

    /// The number of jobs, `None` if it overflows.
    pub fn job_count(&self) -> Option<usize> {
        self.scenarios.iter().try_fold(0usize, |n, s| {
            n.checked_add(s.seeds.len().checked_mul(self.grid.points.len())?)
        })
    }

    /// Every job, in canonical order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut out = Vec::new();
        for (s, entry) in self.scenarios.iter().enumerate() {
            for &seed in &entry.seeds {
                for point in 0..self.grid.points.len() {
                    out.push(Job {
                        scenario: s,
                        seed,
                        point,
                    });
                }
            }
        }
        out
    }

    /// The figures of every point, over the jobs this report holds.
    pub fn figures(&self) -> Vec<PointFigures> {
        let jobs = self.jobs();
        (0..self.grid.points.len())
            .map(|p| {
                let here = || {
                    jobs.iter()
                        .zip(&self.results)
                        .filter(move |(j, _)| j.point == p)
                        .filter_map(|(_, r)| r.as_ref())
                };
                PointFigures {
                    runs: here().count() as u64,
                    pooled: Pooled::of(here().filter(|r| r.applicable).map(|r| &r.score)),
                }
            })
            .collect()
    }

    /// Runs every job of `shard` (all jobs without one) that `store` does
    /// not already hold, on `threads` threads, saving each result in `store`
    /// as soon as its simulation finishes. `progress(done, total)` is called
    /// on this thread after each simulation. `scenarios` are the loaded
    /// scenarios the plan was made from, in the same order.
    ///
    /// Returns how many jobs were run and how many were found in `store`.
    ///
    /// # Errors
    /// A simulation or detector error, or a result that cannot be saved.
    pub fn execute(
        &mut self,
        scenarios: &[Scenario],
        shard: Option<Shard>,
        threads: usize,
        store: Option<&JobStore>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Executed> {
        self.shard = shard;
        let jobs = self.jobs();
        let mut groups: Vec<((usize, u64), Vec<usize>)> = Vec::new();
        let mut done = Executed::default();
        for (i, job) in jobs.iter().enumerate() {
            if shard.is_some_and(|s| !s.owns(i)) {
                continue;
            }
            if let Some(store) = store {
                let key = store.key(
                    &scenarios[job.scenario],
                    job.seed,
                    &self.grid.points[job.point],
                );
                if let Some(found) = store.load(&key) {
                    self.results[i] = Some(found);
                    done.reused += 1;
                    continue;
                }
            }
            done.ran += 1;
            let at = (job.scenario, job.seed);
            match groups.last_mut() {
                Some((k, members)) if *k == at => members.push(i),
                _ => groups.push((at, vec![i])),
            }
        }
        let points = &self.grid.points;
        let total = groups.len();
        let mut finished = 0;
        let mut saved: Result<()> = Ok(());
        let outcomes = map_ordered(
            &groups,
            threads,
            |((s, seed), members)| {
                let specs: Vec<String> = members
                    .iter()
                    .map(|&i| points[jobs[i].point].spec.clone())
                    .collect();
                evaluate(&scenarios[*s], *seed, &specs, &Outputs::default()).map(|run| {
                    run.detectors
                        .into_iter()
                        .map(|d| JobResult {
                            applicable: d.applicable,
                            score: d.score,
                        })
                        .collect::<Vec<_>>()
                })
            },
            |g, outcome| {
                finished += 1;
                progress(finished, total);
                if let (Some(store), Ok(results)) = (store, outcome) {
                    for (&i, r) in groups[g].1.iter().zip(results) {
                        let job = jobs[i];
                        let key = store.key(&scenarios[job.scenario], job.seed, &points[job.point]);
                        if saved.is_ok() {
                            saved = store.save(&key, r);
                        }
                    }
                }
            },
        );
        saved?;
        for ((_, members), outcome) in groups.iter().zip(outcomes) {
            for (&i, r) in members.iter().zip(outcome?) {
                self.results[i] = Some(r);
            }
        }
        Ok(done)
    }
}
