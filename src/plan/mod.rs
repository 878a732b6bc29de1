//! Plan: from `digest_stats` and the cost model to a tier-migration plan (issue 4).
pub mod file;
pub mod policy;
