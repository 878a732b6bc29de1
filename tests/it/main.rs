//! The integration test binary: one module per pipeline stage, plus shared `support` code.
//!
//! One binary (as in delta-rs and uv) so the crate links once and the tests share one LocalStack.
// Test code may unwrap (a failure is a failing test) and print diagnostics.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

mod analyst;
mod apply;
mod architecture;
mod cli;
mod closed_loop;
mod duckdb;
mod fixtures;
mod formats;
mod graph;
mod hostile;
mod ingest;
mod ingest_threads;
mod metrics_file;
mod orc;
mod pins;
mod plan_golden;
mod plan_guard;
mod pricing;
mod progress;
mod readme;
mod reconcile;
mod reconcile_registry;
mod registry;
mod report;
mod run;
mod s3_ingest;
mod s3_lake;
mod s3_smoke;
mod sample_data;
mod spark;
mod stats;
mod vocab;
