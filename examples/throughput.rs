//! End-to-end throughput benchmark (being written).

fn main() {}
