//! End-to-end tests: the real `drift-exporter` binary (`check`, `validate-config`,
//! `serve`, `healthcheck`) driven as a user, an operator and Prometheus drive it.
//! One test binary: `cargo test --test e2e`, or one module of it, e.g.
//! `cargo test --test e2e daemon::`. The Prometheus tests need `promtool` and
//! `prometheus` (Debian package `prometheus`; `.ci/run` installs it).

mod util;

mod access;
mod check_cli;
mod daemon;
mod fleet;
mod hardening;
mod image;
mod multivariate;
mod profiles;
mod prometheus;
mod quality;
mod reliability;
mod segments;
