//! Benchmarks and what they need (not published): synthetic corpora for scale runs
//! ([`synth`]); the `citebot-bench` tool (latency and scale figures for BENCHMARKS.md) and the
//! criterion benches live beside this library.

pub mod synth;
