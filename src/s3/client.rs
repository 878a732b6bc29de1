//! Building the S3 client, the same way for every user: credentials, region and endpoint from
//! the standard AWS chain (`AWS_REGION`, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`, profiles,
//! instance metadata), path-style addressing when asked (`s3_path_style`, LocalStack), and the
//! SDK's retries disabled so that [`super::retry`] makes, counts and logs every attempt.
//!
//! Invariants: no client in blobtier retries on its own; [`build`] is the only place a client
//! is configured. Must not: pick an endpoint or credentials itself (the chain does), or read
//! blobtier's config (callers pass [`ClientOptions`]).

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::StalledStreamProtectionConfig;
use aws_sdk_s3::Client;

/// Client timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect. apply's default 5 s.
    pub connect: Duration,
    /// One attempt of one call (a stalled server becomes a `timeout` failure). apply's default
    /// 120 s: a 5 GiB CopyObject can take minutes.
    pub attempt: Duration,
}

/// How to build a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Path-style addressing (`http://host/bucket/key`), for S3-compatible servers.
    pub path_style: bool,
    /// Explicit timeouts (apply). With them, the stalled-stream protection is off (the attempt
    /// timeout covers stalls; the protection would add a second, less predictable failure
    /// mode), and the credential chain's own clients get the same timeouts and no retries.
    /// Without them (ingest, the lake), the SDK's default timeouts and stall protection hold.
    pub timeouts: Option<Timeouts>,
}

/// Builds a client from the standard AWS chain with `opts`; the SDK's retries are off.
pub async fn build(opts: &ClientOptions) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(t) = opts.timeouts {
        loader = loader
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeout_config(t))
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled());
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(opts.path_style)
        .retry_config(RetryConfig::disabled());
    if let Some(t) = opts.timeouts {
        conf = conf.timeout_config(timeout_config(t));
    }
    Client::from_conf(conf.build())
}

fn timeout_config(t: Timeouts) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(t.connect)
        .operation_attempt_timeout(t.attempt)
        .build()
}
