//! S3 for the synchronous stages: [`S3`] owns a small tokio runtime and a [`Session`] (one
//! client from [`super::client::build`] and the [`RetryPolicy`]). Ingest's `s3://` inputs and
//! the image graph read through it (`storage`), the `s3://` lake reads, lists, writes and
//! deletes through it (`s3lake`).
//!
//! Invariants: every call is classified by [`super::classify`] and retried by
//! [`super::retry`]: listings (page by page), GETs (the body included: a body cut off is a
//! connection failure), HEADs and deletes are idempotent; a write goes through
//! [`Retrier::write_conditional`], never [`Retrier::run`]. A 404 is a value here (`None`)
//! where a caller asks "is it there", and an [`S3Error`] of class `NotFound` otherwise.
//!
//! Must not: interpret what it reads or decide what a conflict means for the caller's data,
//! or hold a runtime inside another one ([`S3::block_on`] from async code panics).

use std::future::Future;
use std::path::Path;

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::Client;

use super::classify::Class;
use super::client::{self, ClientOptions};
use super::retry::{log_retry, seed, LogRetry, Retrier, RetryPolicy, SplitMix64};
use super::{call, CallError, S3Error};
use crate::io::{IoContext, IoError};

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Key.
    pub key: String,
    /// ETag as listed (with its quotes).
    pub etag: String,
    /// Bytes.
    pub size: u64,
}

/// A whole object as read.
#[derive(Debug, Clone)]
pub struct Got {
    /// Content.
    pub bytes: Vec<u8>,
    /// ETag (with its quotes).
    pub etag: String,
}

/// What [`S3::get_many`] did.
#[derive(Debug, Default)]
pub struct GetMany {
    /// One result per key, in input order; a missing object is an error of class `NotFound`.
    pub results: Vec<Result<Vec<u8>, S3Error>>,
    /// Requests sent (every attempt).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
}

/// A client and its retry policy: the async side of [`S3`], cheap to clone into tasks.
#[derive(Debug, Clone)]
pub struct Session {
    client: Client,
    policy: RetryPolicy,
}

impl Session {
    /// A session over `client`.
    pub fn new(client: Client, policy: RetryPolicy) -> Session {
        Session { client, policy }
    }

    /// The client (SDK retries off), to build the requests a [`Session::retrier`] sends.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The retries of one call under this session's policy, with a fresh seed, logging each
    /// retry at DEBUG: `.run(…)` for an idempotent call, `.write_conditional(…)` for a
    /// conditional write.
    pub fn retrier(&self) -> Retrier<SplitMix64, LogRetry> {
        Retrier::new(self.policy, SplitMix64(seed()), log_retry)
    }

    /// Every object under `prefix` (keys ending with `/` included), page by page.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = || {
                let req = self.client.list_objects_v2().bucket(bucket).prefix(prefix);
                req.set_continuation_token(token.clone()).send()
            };
            let (page, _) = self
                .idempotent(bucket, prefix, || call("ListObjectsV2", true, req()))
                .await;
            let page = page?;
            out.extend(page.contents().iter().filter_map(|o| {
                Some(Object {
                    key: o.key()?.to_owned(),
                    etag: o.e_tag().unwrap_or_default().to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                })
            }));
            // As the SDK's paginator: done at an empty or repeated token.
            match page.next_continuation_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.into()),
                _ => return Ok(out),
            }
        }
    }

    /// One GET, the body included.
    async fn get_once(&self, bucket: &str, key: &str) -> Result<Got, CallError> {
        let req = self.client.get_object().bucket(bucket).key(key);
        let out = call("GetObject", true, req.send()).await?;
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| CallError::transit("GetObject", true, &e))?;
        Ok(Got {
            bytes: body.into_bytes().to_vec(),
            etag,
        })
    }

    /// Runs an idempotent call on `bucket/key` (`send` builds each attempt afresh) under a
    /// [`Session::retrier`]; the error names the object and the attempts made.
    async fn idempotent<T, F, Fut>(
        &self,
        bucket: &str,
        key: &str,
        send: F,
    ) -> (Result<T, S3Error>, u32)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let (r, n) = self.retrier().run(send).await;
        (r.map_err(|c| S3Error::new(bucket, key, c).after(n)), n)
    }

    /// A whole object, with the attempts made.
    async fn get_counted(&self, bucket: &str, key: &str) -> (Result<Got, S3Error>, u32) {
        self.idempotent(bucket, key, || self.get_once(bucket, key))
            .await
    }

    /// A whole object; a missing one is an error of class `NotFound`.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Got, S3Error> {
        self.get_counted(bucket, key).await.0
    }

    /// HeadObject; `None` when there is no such key.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<HeadObjectOutput>, S3Error> {
        let req = || self.client.head_object().bucket(bucket).key(key).send();
        match self
            .idempotent(bucket, key, || call("HeadObject", true, req()))
            .await
            .0
        {
            Ok(h) => Ok(Some(h)),
            Err(e) if e.call.class == Class::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// DeleteObject (idempotent: deleting a missing key succeeds).
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let req = || self.client.delete_object().bucket(bucket).key(key).send();
        let (r, _) = self
            .idempotent(bucket, key, || call("DeleteObject", true, req()))
            .await;
        r.map(|_| ())
    }
}

/// S3 access shared by a run: a runtime with two worker threads and one [`Session`].
pub struct S3 {
    rt: tokio::runtime::Runtime,
    session: Session,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3")
    }
}

/// A multi-threaded tokio runtime of `workers` threads with IO and timers: the runtime of
/// [`S3`] (2 threads) and of an apply run.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, IoError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .at("failed to start the async runtime", Path::new("<tokio>"))
}

impl S3 {
    /// Starts the runtime and builds the client from the standard AWS chain.
    pub fn new(path_style: bool) -> Result<S3, IoError> {
        let rt = runtime(2)?;
        let opts = ClientOptions {
            path_style,
            timeouts: None,
        };
        let client = rt.block_on(client::build(&opts));
        Ok(S3 {
            rt,
            session: Session::new(client, RetryPolicy::default()),
        })
    }

    /// The session, for calls made inside [`S3::block_on`].
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Runs a future on this runtime (callable from several threads at once).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// [`Session::list`].
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>, S3Error> {
        self.block_on(self.session.list(bucket, prefix))
    }

    /// [`Session::get`].
    pub fn get(&self, bucket: &str, key: &str) -> Result<Got, S3Error> {
        self.block_on(self.session.get(bucket, key))
    }

    /// GETs `keys` of `bucket` with at most `concurrency` requests in flight, each retried by
    /// the policy (5xx, 429, timeouts, connection errors); a 404 is not retried. Results in
    /// input order.
    pub fn get_many(&self, bucket: &str, keys: &[String], concurrency: usize) -> GetMany {
        let tasks: Vec<_> = keys
            .iter()
            .map(|key| {
                let (s, bucket, key) = (self.session.clone(), bucket.to_owned(), key.clone());
                async move { s.get_counted(&bucket, &key).await }
            })
            .collect();
        let mut m = GetMany::default();
        for (r, n) in self.block_on(bounded(tasks, concurrency)) {
            m.requests += u64::from(n);
            m.retries += u64::from(n.saturating_sub(1));
            m.results.push(r.map(|g| g.bytes));
        }
        m
    }
}

/// Runs `tasks` on the runtime with at most `concurrency` in flight; their outputs in input
/// order. A task that panics panics the caller.
pub async fn bounded<T, Fut>(tasks: Vec<Fut>, concurrency: usize) -> Vec<T>
where
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut out: Vec<Option<T>> = (0..tasks.len()).map(|_| None).collect();
    let mut pending = tasks.into_iter().enumerate();
    let mut set = tokio::task::JoinSet::new();
    loop {
        while set.len() < concurrency.max(1) {
            let Some((i, t)) = pending.next() else { break };
            set.spawn(async move { (i, t.await) });
        }
        match set.join_next().await {
            None => break,
            Some(Ok((i, v))) => out[i] = Some(v),
            // Tasks are never aborted here, so a failed join is a panic.
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out.into_iter()
        .map(|v| v.expect("every task reported"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_keeps_input_order_and_the_limit() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let rt = runtime(2).unwrap();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..20u64)
            .map(|i| {
                let (now, most) = (Arc::clone(&now), Arc::clone(&most));
                async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    // Later tasks finish first.
                    tokio::time::sleep(std::time::Duration::from_millis(20 - i)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    i * 10
                }
            })
            .collect();
        let out = rt.block_on(bounded(tasks, 3));
        assert_eq!(out, (0..20u64).map(|i| i * 10).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert!(rt
            .block_on(bounded(Vec::<std::future::Ready<u8>>::new(), 0))
            .is_empty());
    }
}
