//! Independent jobs on several threads, results in job order.
//!
//! A job's result never depends on which thread ran it or how many threads
//! there were: each job only reads its input, and results are put back in
//! input order. So reports are the same for any `--jobs`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The thread count to use when none is asked for: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Applies `f` to every item on `threads` threads (at least one, at most one
/// per item) and returns the results in item order. `done(i, &result)` runs
/// on the calling thread as each item finishes, in completion order (for
/// progress and for saving results as soon as they exist).
pub fn map_ordered<T, R, F, D>(items: &[T], threads: usize, f: F, done: D) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    D: FnMut(usize, &R),
{
    map_ordered_with(items, threads, f, done, || {})
}

/// [`map_ordered`], also calling `idle()` on the calling thread about once a
/// second while no item finishes (for progress shown while a long job runs).
pub fn map_ordered_with<T, R, F, D, I>(
    items: &[T],
    threads: usize,
    f: F,
    mut done: D,
    mut idle: I,
) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    D: FnMut(usize, &R),
    I: FnMut(),
{
    let threads = threads.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, f) = (&next, &f);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if tx.send((i, f(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok((i, r)) => {
                    done(i, &r);
                    results[i] = Some(r);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => idle(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    // Every index was sent exactly once unless a worker panicked, and a
    // panicking worker makes `scope` panic before we get here.
    results
        .into_iter()
        .map(|r| r.expect("every job reports a result"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_for_any_thread_count() {
        let items: Vec<u64> = (0..50).collect();
        for threads in [1, 2, 7, 64] {
            let mut seen = 0;
            let out = map_ordered(&items, threads, |x| x * x, |_, _| seen += 1);
            assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>());
            assert_eq!(seen, items.len());
        }
        let none: Vec<u64> = map_ordered(&[] as &[u64], 4, |x| *x, |_, _| {});
        assert!(none.is_empty());
    }
}
