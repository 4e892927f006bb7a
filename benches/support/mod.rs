//! What the benchmark binaries (`scores.rs`, `throughput.rs`) share, each through
//! its own `mod support;`: the seeded random generator their data comes from.

pub mod rng;
