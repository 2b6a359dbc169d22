//! The integration tests of this crate, one binary (a module per concern; see each module's header).

mod article_shapes;
mod bad_input;
mod cli;
mod closed_pipe;
mod determinism;
mod discord_e2e;
mod index_faults;
mod index_recovery;
mod postgres_state;
mod quality;
mod query_properties;
mod rebuild_while_serving;
mod secrets;
mod serve;
mod serve_cluster;
mod wikipedia;
