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
    let start = std::ptr::from_ref(value).cast::<u8>();
    let len = std::mem::size_of_val(value).clamp(1, LINE * MAX_LINES);
    // A byte every line apart from the start, and the last byte: every line
    // the value touches, however it is aligned.
    for offset in (0..len).step_by(LINE) {
        hint(start.wrapping_add(offset));
    }
    hint(start.wrapping_add(len - 1));
}

/// Starts loading the cache line holding `ptr`.
#[inline(always)]
fn hint(ptr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: see the module documentation: SSE is in the x86_64 baseline,
    // and a prefetch never faults or reads memory as far as the program can
    // observe.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any value, large, small, unaligned or zero-sized, is fine to hint.
    #[test]
    fn prefetch_accepts_any_value() {
        let big = vec![0u8; 10_000];
        prefetch(&big[..]);
        prefetch(&big[3..70]);
        prefetch(&());
        prefetch(&[0u64; 0][..]);
        prefetch("x");
    }
}
