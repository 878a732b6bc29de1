//! What a failed S3 call means for the caller that made it: retry, slow the whole run down,
//! give up, reconcile, or treat as "already done". Classification is pure and separate from
//! the retry mechanics ([`super::retry`]) so that it can be tested with a table (vector
//! `is_retriable_error`, object_store `RetryError::error`). Every user of S3 (ingest's reads,
//! the image graph, the `s3://` lake, apply) classifies here; none has a rule of its own.
//!
//! Two steps: [`facts`] reduces an `SdkError` to [`Facts`] (transport kind, HTTP status, error
//! code); [`classify`] maps facts to a [`Class`]. Only `facts` knows the SDK's error types.
//!
//! Rules (s3-facts.md §7): 5xx, `InternalError` and `RequestTimeout` are retried; 503 `SlowDown`
//! (and a 503 without a code: HEAD responses have no body) and 429 throttle the whole run;
//! timeouts and broken connections are retried only for idempotent calls, and are *ambiguous*
//! for the others (the call may have taken effect); 412 means the object changed; other 4xx are
//! permanent. `RestoreAlreadyInProgress` means the restore we want is already running. For a
//! conditional write, [`condition_failed`] says whether the condition did not hold.
//!
//! Must not: look at anything but the error (no clock, no counters, no I/O), or know which
//! caller asks: the caller says whether its call is idempotent.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Why a call is worth repeating (the `reason` label of `blobtier_apply_retries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetryReason {
    /// 503 `SlowDown`, 429 and the other throttling codes.
    Throttle,
    /// 500, 502, 503 (other than SlowDown), 504, `InternalError`, `RequestTimeout`.
    ServerError,
    /// The attempt (or connect) timed out.
    Timeout,
    /// The connection was reset, refused or closed before a response.
    Connection,
}

impl RetryReason {
    /// Every reason, in label order.
    pub const ALL: [RetryReason; 4] = [
        RetryReason::Throttle,
        RetryReason::ServerError,
        RetryReason::Timeout,
        RetryReason::Connection,
    ];

    /// Metric label and journal `error_class` suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::Throttle => "throttle",
            RetryReason::ServerError => "server_error",
            RetryReason::Timeout => "timeout",
            RetryReason::Connection => "connection",
        }
    }
}

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Transient: back off and try again. `Throttle` also slows the whole run down.
    Retry(RetryReason),
    /// A non-idempotent call failed in transit: it may or may not have taken effect. The caller
    /// must reconcile (look at S3) before it tries again.
    Ambiguous(RetryReason),
    /// 412: a precondition (`x-amz-copy-source-if-match`) failed; the object changed.
    Precondition,
    /// The requested state already holds (`RestoreAlreadyInProgress`).
    AlreadyDone,
    /// 404: no such key, version, upload or lifecycle configuration.
    NotFound,
    /// Do not retry (403, `InvalidObjectState`, `InvalidStorageClass`, other 4xx, bugs).
    Permanent,
}

impl Class {
    /// The journal's `error_class` value.
    pub fn label(self) -> &'static str {
        match self {
            Class::Retry(r) => r.as_str(),
            Class::Ambiguous(_) => "ambiguous",
            Class::Precondition => "precondition",
            Class::AlreadyDone => "already_done",
            Class::NotFound => "not_found",
            Class::Permanent => "permanent",
        }
    }
}

/// How a call failed, without the SDK's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    /// The request could not be built (a bug or bad input): never retried.
    Construction,
    /// The attempt timed out (operation attempt timeout or connect timeout).
    Timeout,
    /// The connection failed (reset, refused, closed early, TLS, DNS).
    Connection,
    /// The server answered with an error status.
    Response {
        /// HTTP status.
        status: u16,
        /// S3 error code from the body, when there is one (HEAD errors have none).
        code: Option<String>,
    },
}

/// Error codes the SDK treats as throttling (s3-facts.md §7).
const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes that are transient whatever their status.
const TRANSIENT_CODES: &[&str] = &["InternalError", "RequestTimeout", "RequestTimeoutException"];

/// Codes meaning "not there".
const NOT_FOUND_CODES: &[&str] = &[
    "NoSuchKey",
    "NoSuchVersion",
    "NotFound",
    "NoSuchUpload",
    "NoSuchLifecycleConfiguration",
    "NoSuchTagSet",
];

/// Maps facts to a class. `idempotent`: repeating the call cannot do harm (HEAD, GET, tagging,
/// lifecycle PUT of the same document, UploadPartCopy of the same part, CopyObject when the
/// caller re-checks the object first). Pure.
pub fn classify(facts: &Facts, idempotent: bool) -> Class {
    let transit = |r| {
        if idempotent {
            Class::Retry(r)
        } else {
            Class::Ambiguous(r)
        }
    };
    match facts {
        Facts::Construction => Class::Permanent,
        Facts::Timeout => transit(RetryReason::Timeout),
        Facts::Connection => transit(RetryReason::Connection),
        Facts::Response { status, code } => {
            let code = code.as_deref();
            if let Some(c) = code {
                if THROTTLE_CODES.contains(&c) {
                    return Class::Retry(RetryReason::Throttle);
                }
                if TRANSIENT_CODES.contains(&c) {
                    return Class::Retry(RetryReason::ServerError);
                }
                if c == "RestoreAlreadyInProgress" {
                    return Class::AlreadyDone;
                }
                if c == "PreconditionFailed" {
                    return Class::Precondition;
                }
                // A missing bucket is an operator's problem, not a changed object.
                if c == "NoSuchBucket" {
                    return Class::Permanent;
                }
                if NOT_FOUND_CODES.contains(&c) {
                    return Class::NotFound;
                }
            }
            match (*status, code) {
                (429, _) => Class::Retry(RetryReason::Throttle),
                // S3's 503 is "Slow Down"; HEAD responses carry no code at all.
                (503, None) => Class::Retry(RetryReason::Throttle),
                // Needs a different restore tier, not the same request again.
                (503, Some("GlacierExpeditedRetrievalNotAvailable")) => Class::Permanent,
                (500 | 502 | 503 | 504, _) => Class::Retry(RetryReason::ServerError),
                (412, _) => Class::Precondition,
                (404, _) => Class::NotFound,
                _ => Class::Permanent,
            }
        }
    }
}

/// For a conditional write (`If-None-Match: *`, `If-Match`): whether the failure means the
/// condition did not hold, so the object is not what the writer expected. 412; 404, which S3
/// answers to `If-Match` on a key that is gone (but not `NoSuchBucket`); and 409
/// (`ConditionalRequestConflict`: another conditional write to the key was in flight). The
/// writer must read the object back: its own earlier attempt may be what it now sees. Pure.
pub fn condition_failed(facts: &Facts) -> bool {
    match facts {
        Facts::Response {
            status: 412 | 409, ..
        } => true,
        Facts::Response { status: 404, code } => code.as_deref() != Some("NoSuchBucket"),
        _ => false,
    }
}

/// Reduces an SDK error to [`Facts`].
pub fn facts<E: ProvideErrorMetadata>(
    e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> Facts {
    match e {
        SdkError::ConstructionFailure(_) => Facts::Construction,
        SdkError::TimeoutError(_) => Facts::Timeout,
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                Facts::Timeout
            } else if d.is_user() {
                Facts::Construction
            } else {
                Facts::Connection
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            if (200..300).contains(&status) {
                // A success status with a body that did not parse (cut off): the connection broke.
                Facts::Connection
            } else {
                Facts::Response { status, code: None }
            }
        }
        SdkError::ServiceError(s) => Facts::Response {
            status: s.raw().status().as_u16(),
            code: s.err().code().map(str::to_owned),
        },
        _ => Facts::Construction,
    }
}

/// The error code to record: the S3 code, else `http_<status>`, else the transport kind.
pub fn error_code(facts: &Facts) -> String {
    match facts {
        Facts::Construction => "construction".into(),
        Facts::Timeout => "timeout".into(),
        Facts::Connection => "connection".into(),
        Facts::Response {
            code: Some(c),
            status: _,
        } => c.clone(),
        Facts::Response { status, code: None } => format!("http_{status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_s3::operation::copy_object::CopyObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    fn resp(status: u16, code: Option<&str>) -> Facts {
        Facts::Response {
            status,
            code: code.map(str::to_owned),
        }
    }

    #[test]
    fn classification_table() {
        use Class::*;
        use RetryReason::*;
        #[rustfmt::skip]
        let table: &[(Facts, bool, Class)] = &[
            (resp(503, Some("SlowDown")), true, Retry(Throttle)),
            (resp(503, Some("SlowDown")), false, Retry(Throttle)),
            (resp(503, None), true, Retry(Throttle)),
            (resp(503, Some("ServiceUnavailable")), true, Retry(ServerError)),
            (resp(429, None), true, Retry(Throttle)),
            (resp(400, Some("ThrottlingException")), true, Retry(Throttle)),
            (resp(500, Some("InternalError")), true, Retry(ServerError)),
            (resp(500, None), false, Retry(ServerError)),
            (resp(502, None), true, Retry(ServerError)),
            (resp(504, None), true, Retry(ServerError)),
            (resp(200, Some("InternalError")), true, Retry(ServerError)),
            (resp(400, Some("RequestTimeout")), true, Retry(ServerError)),
            (Facts::Timeout, true, Retry(Timeout)),
            (Facts::Timeout, false, Ambiguous(Timeout)),
            (Facts::Connection, true, Retry(Connection)),
            (Facts::Connection, false, Ambiguous(Connection)),
            (resp(412, Some("PreconditionFailed")), true, Precondition),
            (resp(412, None), true, Precondition),
            (resp(409, Some("RestoreAlreadyInProgress")), true, AlreadyDone),
            (resp(404, Some("NoSuchKey")), true, NotFound),
            (resp(404, None), true, NotFound),
            (resp(404, Some("NoSuchLifecycleConfiguration")), true, NotFound),
            (resp(404, Some("NoSuchUpload")), true, NotFound),
            (resp(404, Some("NoSuchBucket")), true, Permanent),
            (resp(403, Some("AccessDenied")), true, Permanent),
            (resp(403, Some("InvalidObjectState")), true, Permanent),
            (resp(403, Some("ObjectNotInActiveTierError")), true, Permanent),
            (resp(400, Some("InvalidStorageClass")), true, Permanent),
            (resp(400, Some("InvalidRequest")), true, Permanent),
            (resp(409, Some("ConditionalRequestConflict")), true, Permanent),
            (resp(503, Some("GlacierExpeditedRetrievalNotAvailable")), true, Permanent),
            (resp(400, None), true, Permanent),
            (Facts::Construction, true, Permanent),
        ];
        for (facts, idempotent, want) in table {
            assert_eq!(
                classify(facts, *idempotent),
                *want,
                "{facts:?} idempotent={idempotent}"
            );
        }
    }

    #[test]
    fn conditional_write_failures() {
        #[rustfmt::skip]
        let table: &[(Facts, bool)] = &[
            (resp(412, Some("PreconditionFailed")), true),
            (resp(412, None), true),
            (resp(409, Some("ConditionalRequestConflict")), true),
            (resp(404, Some("NoSuchKey")), true),
            (resp(404, None), true),
            (resp(404, Some("NoSuchBucket")), false),
            (resp(403, Some("AccessDenied")), false),
            (resp(503, Some("SlowDown")), false),
            (resp(500, None), false),
            (Facts::Timeout, false),
            (Facts::Connection, false),
            (Facts::Construction, false),
        ];
        for (facts, want) in table {
            assert_eq!(condition_failed(facts), *want, "{facts:?}");
        }
    }

    fn service(status: u16, code: Option<&str>) -> SdkError<CopyObjectError, HttpResponse> {
        let mut meta = ErrorMetadata::builder();
        if let Some(c) = code {
            meta = meta.code(c);
        }
        SdkError::service_error(
            CopyObjectError::generic(meta.build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn facts_from_sdk_errors() {
        assert_eq!(
            facts(&service(503, Some("SlowDown"))),
            resp(503, Some("SlowDown"))
        );
        assert_eq!(facts(&service(404, None)), resp(404, None));
        let t: SdkError<CopyObjectError, HttpResponse> = SdkError::timeout_error("attempt timeout");
        assert_eq!(facts(&t), Facts::Timeout);
        let io: SdkError<CopyObjectError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io("connection reset".into()));
        assert_eq!(facts(&io), Facts::Connection);
        let ct: SdkError<CopyObjectError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::timeout("connect".into()));
        assert_eq!(facts(&ct), Facts::Timeout);
        let cut: SdkError<CopyObjectError, HttpResponse> = SdkError::response_error(
            "unexpected eof",
            HttpResponse::new(200u16.try_into().unwrap(), SdkBody::empty()),
        );
        assert_eq!(facts(&cut), Facts::Connection);
        let c: SdkError<CopyObjectError, HttpResponse> = SdkError::construction_failure("bad");
        assert_eq!(classify(&facts(&c), true), Class::Permanent);
    }

    #[test]
    fn error_codes() {
        assert_eq!(error_code(&resp(503, Some("SlowDown"))), "SlowDown");
        assert_eq!(error_code(&resp(500, None)), "http_500");
        assert_eq!(error_code(&Facts::Timeout), "timeout");
    }
}
