//! The integration tests of this crate, one binary (a module per concern; see each module's header).

mod bench_smoke;
