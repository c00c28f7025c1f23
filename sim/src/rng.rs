//! Seeded random streams, one per component.
//!
//! Every component (host, link, app) draws from its own ChaCha8 stream, selected
//! by a stable hash of the component's name, so adding a host does not shift any
//! other component's draws. ChaCha is reproducible across platforms and versions
//! (rand's `StdRng`/`SmallRng` are not).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG type used everywhere in the simulator.
pub type SimRng = ChaCha8Rng;

/// FNV-1a over the name: stable across runs, platforms and Rust versions
/// (unlike `std`'s `DefaultHasher`, which is not guaranteed stable).
pub fn stable_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The stream for component `name` under scenario seed `seed`.
pub fn stream(seed: u64, name: &str) -> SimRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stable_hash(name));
    rng
}
