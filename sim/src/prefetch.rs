//! Software prefetch: asks the CPU to start loading the cache lines of a value
//! that the next event will read, while the current event still runs.
//!
//! At 10,000 hosts the simulator's state no longer fits the second-level
//! cache, and the first touches of the next event's link, node and host are
//! one dependent miss after another (`docs/performance.md`, "Fourth pass").
//! The event queue knows the next event before the current one is handled,
//! so those lines can be on their way in the meantime.
//!
//! A prefetch is a hint: it changes no value the program computes, only when
//! memory arrives in the cache, so it cannot change what a run produces.
//!
//! # Safety
//!
//! `_mm_prefetch` is `unsafe` only because it is a `#[target_feature(enable =
//! "sse")]` function: SSE is part of the x86_64 baseline every x86_64 target
//! has, so the feature is always present. The instruction (`prefetcht0`) reads
//! no memory in the language's sense and never faults, whatever the address:
//! here every address is inside a live reference anyway.

#![allow(unsafe_code)]

/// Bytes per cache line on every x86_64 CPU the simulator runs on.
const LINE: usize = 64;

/// Lines prefetched at most per value (a hint for the head of a large value,
/// not a copy of it).
const MAX_LINES: usize = 12;

/// Starts loading the cache lines that hold `value` (at most [`MAX_LINES`]).
#[inline(always)]
pub(crate) fn prefetch<T: ?Sized>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>().addr();
    let (first, count) = span(start, std::mem::size_of_val(value));
    // A plain counted loop: this runs for every event, and an inclusive range
    // of lines costs twice the instructions per line.
    for i in 0..count {
        hint(first + i * LINE);
    }
}

/// The address of the first cache line that `len` bytes at `start` touch
/// (the line of `start` for an empty value), and how many lines they touch,
/// at most [`MAX_LINES`].
#[inline(always)]
fn span(start: usize, len: usize) -> (usize, usize) {
    let first = start / LINE;
    let last = start.saturating_add(len.max(1) - 1) / LINE;
    (first * LINE, (last - first + 1).min(MAX_LINES))
}

#[cfg(test)]
fn lines(start: usize, len: usize) -> impl Iterator<Item = usize> {
    let (first, count) = span(start, len);
    (0..count).map(move |i| first + i * LINE)
}

/// Starts loading the cache line at address `line`.
#[inline(always)]
fn hint(line: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: see the module documentation: SSE is in the x86_64 baseline,
    // and a prefetch never faults or reads memory as far as the program can
    // observe, so the pointer needs no provenance.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::without_provenance::<i8>(line));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = line;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every line a value touches is hinted once, up to the cap, however
    /// the value is aligned; an empty value hints its own line.
    #[test]
    fn hints_exactly_the_lines_a_value_touches() {
        for start in [0, 1, 63, 64, 100, 4095, usize::MAX - 10] {
            for len in [0, 1, 2, 63, 64, 65, 128, 528, 10_000] {
                let got: Vec<usize> = lines(start, len).collect();
                let end = start.saturating_add(len.max(1));
                let want: BTreeSet<usize> = (start..end)
                    .map(|byte| byte / LINE * LINE)
                    .take_while(|&l| l / LINE < start / LINE + MAX_LINES)
                    .collect();
                assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{start} {len}");
            }
        }
    }

    /// Hinting any real value, large, small or zero-sized, is harmless.
    #[test]
    fn prefetch_leaves_values_alone() {
        let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        prefetch(&big[..]);
        prefetch(&big[3..70]);
        prefetch(&());
        prefetch("x");
        assert!(big.iter().enumerate().all(|(i, &b)| b == i as u8));
    }
}
