//! Shared test support: the LocalStack S3 server and helpers for running the `blobtier` binary.
//!
//! Every test module uses a different subset of these helpers (and re-exports), so some are unused
//! in any given build of the test binary.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod fault_proxy;
pub mod localstack;
pub mod parquet;
pub mod plan_row;
pub mod pyarrow;
pub mod registry;
pub mod setup;
pub mod spark_session;

pub use localstack::{block_on, localstack, LocalStack};
