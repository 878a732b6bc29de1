//! The S3 layer: the one way blobtier talks to S3. Client construction ([`client`]), error
//! classification ([`classify`]), retry and backoff ([`retry`]), the run-wide request pacer
//! ([`pacer`]) and access from synchronous code ([`blocking`], with the one tokio [`runtime`]
//! builder, which apply uses too).
//!
//! Its users: ingest's `s3://` inputs and the image graph (through `storage`), the `s3://` lake
//! (`s3lake`) and apply (`apply::s3` sends its typed calls through [`CallError`], the pacer
//! and the classifier; `apply::actions` runs its action-level loop on [`retry`]'s backoff).
//!
//! Invariants:
//! - every client comes from [`client::build`], with the SDK's own retries off, so that every
//!   attempt is made, counted and logged here (STYLE.md, "Retries");
//! - what a failure means is decided in one place, [`classify::classify`] (pure, tested with a
//!   table); *when* to try again, in [`retry`] (decorrelated jitter, injectable RNG). 5xx,
//!   429 and the throttling codes are retried; timeouts and broken connections only for
//!   idempotent calls; for a non-idempotent call they are `Ambiguous` and must be reconciled
//!   by reading the object back before the call is sent again
//!   ([`retry::Retrier::write_conditional`], used by the lake's conditional puts);
//! - one failed call is one [`CallError`] (operation, class, facts, message), whoever made it;
//!   [`S3Error`] adds the object it concerned.
//!
//! Must not: depend on any pipeline stage (ingest, the lake, plan, apply sit above it), decide
//! what a result means for the caller's data (ETags against a plan, the lake's state, a lock's
//! holder), or delete anything on its own.

pub mod blocking;
pub mod classify;
pub mod client;
pub mod pacer;
pub mod retry;

use std::future::Future;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

pub use blocking::{runtime, GetMany, Got, Object, Session, S3};
pub use classify::{Class, Facts, RetryReason};
pub use client::{ClientOptions, Timeouts};

/// A failed call (one attempt, or the last of several).
#[derive(Debug, Clone)]
pub struct CallError {
    /// Operation name (`CopyObject`, …).
    pub op: &'static str,
    /// What to do about it.
    pub class: Class,
    /// How it failed.
    pub facts: Facts,
    /// The SDK's error with its causes.
    pub message: String,
}

impl CallError {
    /// Classifies an SDK error of `op`; `idempotent` as in [`classify::classify`]. The message is
    /// the error's chain of causes ([`sdk_message`]).
    pub fn from_sdk<E>(op: &'static str, idempotent: bool, e: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let facts = classify::facts(e);
        CallError {
            op,
            class: classify::classify(&facts, idempotent),
            facts,
            message: sdk_message(e),
        }
    }

    /// A response whose body broke off while it was read: the connection failed.
    pub fn transit(op: &'static str, idempotent: bool, e: &dyn std::error::Error) -> Self {
        CallError {
            op,
            class: classify::classify(&Facts::Connection, idempotent),
            facts: Facts::Connection,
            message: sdk_message(e),
        }
    }

    /// A failure that did not come from S3 (e.g. a response without an expected field).
    pub fn local(op: &'static str, message: impl Into<String>) -> CallError {
        CallError {
            op,
            class: Class::Permanent,
            facts: Facts::Construction,
            message: message.into(),
        }
    }

    /// The code to record (`SlowDown`, `http_503`, `timeout`, …).
    pub fn code(&self) -> String {
        classify::error_code(&self.facts)
    }

    /// The retry reason, when the class is retryable or ambiguous.
    pub fn retry_reason(&self) -> Option<RetryReason> {
        match self.class {
            Class::Retry(r) | Class::Ambiguous(r) => Some(r),
            _ => None,
        }
    }

    /// For a conditional write: whether the condition did not hold
    /// ([`classify::condition_failed`]).
    pub fn condition_failed(&self) -> bool {
        classify::condition_failed(&self.facts)
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed ({}): {}", self.op, self.code(), self.message)
    }
}

impl std::error::Error for CallError {}

/// A failed call on one object (or prefix), after `attempts` attempts.
#[derive(Debug, Clone, thiserror::Error)]
#[error("S3 {} failed on `s3://{bucket}/{key}`: {}{}", call.op, call.message, Attempts(*attempts))]
pub struct S3Error {
    /// Bucket.
    pub bucket: String,
    /// Key or prefix.
    pub key: String,
    /// The last attempt's error (boxed: errors travel up every stage's `Result`).
    pub call: Box<CallError>,
    /// Attempts made (1 when the call was not retried).
    pub attempts: u32,
}

impl S3Error {
    /// `call`, made once, on `bucket/key`.
    pub fn new(bucket: &str, key: &str, call: CallError) -> S3Error {
        S3Error {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            call: Box::new(call),
            attempts: 1,
        }
    }

    /// With the number of attempts made.
    pub fn after(mut self, attempts: u32) -> S3Error {
        self.attempts = attempts;
        self
    }
}

/// ` (attempt N)` after a message when the call was tried more than once.
struct Attempts(u32);

impl std::fmt::Display for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 > 1 {
            write!(f, " (attempt {})", self.0)?;
        }
        Ok(())
    }
}

/// Awaits one attempt of an SDK call and classifies its error: where an `SdkError` becomes a
/// [`CallError`] for every user but apply (which also paces and counts, `apply::s3`).
pub async fn call<T, E, F>(op: &'static str, idempotent: bool, fut: F) -> Result<T, CallError>
where
    F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fut.await
        .map_err(|e| CallError::from_sdk(op, idempotent, &e))
}

/// An error with its chain of causes, on one line.
pub fn sdk_message(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_object_and_the_attempts() {
        let call = CallError {
            op: "GetObject",
            class: Class::Retry(RetryReason::ServerError),
            facts: Facts::Response {
                status: 500,
                code: Some("InternalError".into()),
            },
            message: "service error".into(),
        };
        assert_eq!(
            call.to_string(),
            "GetObject failed (InternalError): service error"
        );
        let e = S3Error::new("b", "k/x", call);
        assert_eq!(
            e.to_string(),
            "S3 GetObject failed on `s3://b/k/x`: service error"
        );
        assert_eq!(
            e.after(5).to_string(),
            "S3 GetObject failed on `s3://b/k/x`: service error (attempt 5)"
        );
        let local = CallError::local("PutObjectTagging", "too many tags");
        assert_eq!(local.class, Class::Permanent);
        assert_eq!(local.code(), "construction");
    }

    #[test]
    fn a_broken_body_is_a_connection_failure() {
        let io = std::io::Error::other("connection reset");
        let e = CallError::transit("GetObject", true, &io);
        assert_eq!(e.class, Class::Retry(RetryReason::Connection));
        let e = CallError::transit("PutObject", false, &io);
        assert_eq!(e.class, Class::Ambiguous(RetryReason::Connection));
    }
}
