//! Every S3 call apply makes, and nothing else: one typed method per operation that paces the
//! request (the S3 layer's [`Pacer`]), counts it, and turns an SDK error into the S3 layer's
//! [`CallError`] carrying its [`Class`]. The client comes from [`crate::s3::client::build`]
//! (SDK retries off, apply's timeouts).
//!
//! No method here retries or decides anything; that is `actions.rs` (what to do) and the S3
//! layer's `classify` / `retry` (what a failure means, when to try again). No method deletes
//! an object or a version: the only "delete" this module can send is `AbortMultipartUpload` of
//! an upload it created.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, CompletedMultipartUpload, CompletedPart, GlacierJobParameters,
    LifecycleRule, MetadataDirective, ObjectLockLegalHoldStatus, ObjectLockMode, Permission,
    RestoreRequest, ServerSideEncryption, StorageClass, Tag, Tagging, TaggingDirective, Tier,
    TransitionDefaultMinimumObjectSize,
};
use aws_sdk_s3::Client;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tracing::debug;

use super::metrics::Metrics;
use crate::s3::pacer::Pacer;
use crate::s3::{Class, RetryReason};

pub use crate::s3::CallError;

/// Server-side encryption of an object, as HEAD reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    /// None reported.
    None,
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS with its key.
    Kms {
        /// Key id/ARN.
        key_id: Option<String>,
        /// S3 Bucket Key.
        bucket_key: Option<bool>,
    },
    /// DSSE-KMS.
    Dsse {
        /// Key id/ARN.
        key_id: Option<String>,
    },
    /// SSE-C: apply does not hold customer keys, so it skips these objects.
    Customer,
}

/// Restore status from `x-amz-restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreState {
    /// `ongoing-request="true"`.
    Ongoing,
    /// `ongoing-request="false"` (a temporary copy exists).
    Done,
}

/// Parses an `x-amz-restore` header value.
pub fn parse_restore(v: &str) -> Option<RestoreState> {
    let v = v.to_ascii_lowercase().replace(' ', "");
    if v.contains("ongoing-request=\"true\"") {
        Some(RestoreState::Ongoing)
    } else if v.contains("ongoing-request=\"false\"") {
        Some(RestoreState::Done)
    } else {
        None
    }
}

/// System metadata that a multipart copy must re-send (CopyObject keeps it by itself).
#[derive(Debug, Clone, Default)]
pub struct SystemMeta {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Expires.
    pub expires: Option<DateTime>,
    /// `x-amz-meta-*`.
    pub metadata: HashMap<String, String>,
}

/// What HEAD says about an object.
#[derive(Debug, Clone)]
pub struct Head {
    /// Storage class (`STANDARD` when S3 reports none).
    pub class: String,
    /// ETag without quotes.
    pub etag: Option<String>,
    /// Bytes.
    pub size: i64,
    /// Version id (`None` or `null` when unversioned).
    pub version_id: Option<String>,
    /// `x-amz-restore`.
    pub restore: Option<RestoreState>,
    /// Intelligent-Tiering archive tier, if the object sits in one.
    pub archive_status: Option<String>,
    /// Encryption.
    pub sse: Sse,
    /// Metadata.
    pub meta: SystemMeta,
    /// `x-amz-website-redirect-location` (never copied by S3 itself).
    pub website_redirect: Option<String>,
    /// Object Lock settings.
    pub lock: ObjectLock,
}

/// An object's Object Lock settings, which a copy must re-send (S3 does not copy them).
#[derive(Debug, Clone, Default)]
pub struct ObjectLock {
    /// Retention mode.
    pub mode: Option<ObjectLockMode>,
    /// Retain-until date.
    pub until: Option<DateTime>,
    /// Legal hold.
    pub legal_hold: Option<ObjectLockLegalHoldStatus>,
}

impl Head {
    /// Whether the object sits in an archive tier that must be restored before it can be read.
    pub fn archived(&self) -> bool {
        matches!(self.class.as_str(), "GLACIER" | "DEEP_ARCHIVE")
            || (self.class == "INTELLIGENT_TIERING" && self.archive_status.is_some())
    }
}

/// Strips the quotes S3 puts around ETags.
pub fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// ACL grants to re-send as `x-amz-grant-*` header values; all empty = the default ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `x-amz-grant-full-control`.
    pub full_control: Vec<String>,
    /// `x-amz-grant-read`.
    pub read: Vec<String>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Vec<String>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Vec<String>,
}

impl Grants {
    /// The default ACL (the owner's FULL_CONTROL alone): nothing to re-send.
    pub fn is_default(&self) -> bool {
        self.full_control.is_empty()
            && self.read.is_empty()
            && self.read_acp.is_empty()
            && self.write_acp.is_empty()
    }

    fn header(v: &[String]) -> Option<String> {
        (!v.is_empty()).then(|| v.join(", "))
    }
}

/// Reduces an object's ACL (`(grantee, permission)` with grantees rendered as `id="…"`,
/// `uri="…"` or `emailAddress="…"`) to the grants a copy must send: nothing for the default ACL
/// (the owner's FULL_CONTROL alone, which a copy gets anyway), else every grant plus the owner's
/// own FULL_CONTROL (explicit grants replace the default ACL). Pure.
pub fn grants_to_resend(owner: Option<&str>, grants: &[(String, Permission)]) -> Grants {
    let me = owner.map(|id| format!("id=\"{id}\""));
    let only_owner = grants
        .iter()
        .all(|(who, p)| Some(who) == me.as_ref() && *p == Permission::FullControl);
    if only_owner {
        return Grants::default();
    }
    let mut g = Grants::default();
    for (who, p) in grants {
        let list = match p {
            Permission::FullControl => &mut g.full_control,
            Permission::Read => &mut g.read,
            Permission::ReadAcp => &mut g.read_acp,
            Permission::WriteAcp => &mut g.write_acp,
            // WRITE does not apply to objects.
            _ => continue,
        };
        if !list.contains(who) {
            list.push(who.clone());
        }
    }
    if let Some(me) = me {
        if !g.full_control.contains(&me) {
            g.full_control.push(me);
        }
    }
    g
}

/// The source of an in-place copy.
#[derive(Debug, Clone)]
pub struct CopySource {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version to copy (`None` = current).
    pub version_id: Option<String>,
}

/// RFC 3986 unreserved characters stay as they are.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Characters kept as they are in the path part of `x-amz-copy-source`.
const COPY_SOURCE: &AsciiSet = &UNRESERVED.remove(b'/');

impl CopySource {
    /// The URL-encoded `x-amz-copy-source` value (the SDK does not encode it).
    pub fn header(&self) -> String {
        let mut s = format!(
            "{}/{}",
            utf8_percent_encode(&self.bucket, COPY_SOURCE),
            utf8_percent_encode(&self.key, COPY_SOURCE)
        );
        if let Some(v) = &self.version_id {
            s.push_str("?versionId=");
            s.push_str(&utf8_percent_encode(v, UNRESERVED).to_string());
        }
        s
    }
}

/// A bucket's lifecycle configuration as read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LifecycleDoc {
    /// Rules (empty when the bucket has none).
    pub rules: Vec<LifecycleRule>,
    /// `x-amz-transition-default-minimum-object-size`, echoed on write.
    pub min_size: Option<TransitionDefaultMinimumObjectSize>,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Upload id.
    pub upload_id: String,
    /// Key.
    pub key: String,
    /// When it was created.
    pub initiated: Option<SystemTime>,
}

/// S3 access for one run.
#[derive(Debug, Clone)]
pub struct S3 {
    client: Client,
    pacer: Arc<Pacer>,
    metrics: Arc<Metrics>,
}

fn sse_of(
    sse: Option<&ServerSideEncryption>,
    key_id: Option<&str>,
    bucket_key: Option<bool>,
    customer: Option<&str>,
) -> Sse {
    if customer.is_some() {
        return Sse::Customer;
    }
    match sse {
        None => Sse::None,
        Some(ServerSideEncryption::Aes256) => Sse::S3,
        Some(ServerSideEncryption::AwsKmsDsse) => Sse::Dsse {
            key_id: key_id.map(str::to_owned),
        },
        Some(_) => Sse::Kms {
            key_id: key_id.map(str::to_owned),
            bucket_key,
        },
    }
}

/// Sets the SSE, grants, website-redirect and Object Lock fields shared by CopyObject and
/// CreateMultipartUpload builders (two unrelated types with the same method names).
macro_rules! preserve {
    ($b:expr, $head:expr, $grants:expr) => {{
        let mut b = $b;
        let head: &Head = $head;
        let grants: &Grants = $grants;
        match &head.sse {
            Sse::None | Sse::Customer => {}
            Sse::S3 => b = b.server_side_encryption(ServerSideEncryption::Aes256),
            Sse::Kms { key_id, bucket_key } => {
                b = b
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .set_ssekms_key_id(key_id.clone())
                    .set_bucket_key_enabled(*bucket_key);
            }
            Sse::Dsse { key_id } => {
                b = b
                    .server_side_encryption(ServerSideEncryption::AwsKmsDsse)
                    .set_ssekms_key_id(key_id.clone());
            }
        }
        if !grants.is_default() {
            b = b
                .set_grant_full_control(Grants::header(&grants.full_control))
                .set_grant_read(Grants::header(&grants.read))
                .set_grant_read_acp(Grants::header(&grants.read_acp))
                .set_grant_write_acp(Grants::header(&grants.write_acp));
        }
        b.set_website_redirect_location(head.website_redirect.clone())
            .set_object_lock_mode(head.lock.mode.clone())
            .set_object_lock_retain_until_date(head.lock.until)
            .set_object_lock_legal_hold_status(head.lock.legal_hold.clone())
    }};
}

/// Addresses one object on any request builder: bucket, key and the version (`None` = the
/// current one). The SDK's builders are unrelated types with the same method names.
macro_rules! object {
    ($b:expr, $bucket:expr, $key:expr, $version_id:expr) => {
        $b.bucket($bucket)
            .key($key)
            .set_version_id($version_id.map(str::to_owned))
    };
}

impl S3 {
    /// Wraps a client.
    pub fn new(client: Client, pacer: Arc<Pacer>, metrics: Arc<Metrics>) -> S3 {
        S3 {
            client,
            pacer,
            metrics,
        }
    }

    /// Paces, counts and sends one request; maps its error.
    async fn call<T, E, F>(
        &self,
        op: &'static str,
        idempotent: bool,
        fut: F,
    ) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let wait = self.pacer.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.metrics.request(op);
        let started = Instant::now();
        let r = fut.await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok(v) => {
                self.pacer.on_success(Instant::now());
                debug!(op, elapsed_ms, "s3 call ok");
                Ok(v)
            }
            Err(e) => {
                let err = CallError {
                    message: DisplayErrorContext(&e).to_string(),
                    ..CallError::from_sdk(op, idempotent, &e)
                };
                if err.class == Class::Retry(RetryReason::Throttle) {
                    self.pacer.on_throttle(Instant::now());
                }
                debug!(op, elapsed_ms, error_class = err.class.label(), error_code = %err.code(), "s3 call failed");
                Err(err)
            }
        }
    }

    /// HeadObject; `None` when the key (or version) does not exist.
    pub async fn head(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Head>, CallError> {
        let req = object!(self.client.head_object(), bucket, key, version_id).send();
        let o = match self.call("HeadObject", true, req).await {
            Ok(o) => o,
            Err(e) if e.class == Class::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let expires = o
            .expires_string()
            .and_then(|s| DateTime::from_str(s, DateTimeFormat::HttpDate).ok());
        Ok(Some(Head {
            class: o
                .storage_class()
                .map_or_else(|| "STANDARD".to_owned(), |c| c.as_str().to_owned()),
            etag: o.e_tag().map(|e| unquote(e).to_owned()),
            size: o.content_length().unwrap_or(0),
            version_id: o.version_id().map(str::to_owned),
            restore: o.restore().and_then(parse_restore),
            archive_status: o.archive_status().map(|a| a.as_str().to_owned()),
            sse: sse_of(
                o.server_side_encryption(),
                o.ssekms_key_id(),
                o.bucket_key_enabled(),
                o.sse_customer_algorithm(),
            ),
            meta: SystemMeta {
                content_type: o.content_type().map(str::to_owned),
                cache_control: o.cache_control().map(str::to_owned),
                content_disposition: o.content_disposition().map(str::to_owned),
                content_encoding: o.content_encoding().map(str::to_owned),
                content_language: o.content_language().map(str::to_owned),
                expires,
                metadata: o.metadata().cloned().unwrap_or_default(),
            },
            website_redirect: o.website_redirect_location().map(str::to_owned),
            lock: ObjectLock {
                mode: o.object_lock_mode().cloned(),
                until: o.object_lock_retain_until_date().copied(),
                legal_hold: o.object_lock_legal_hold_status().cloned(),
            },
        }))
    }

    /// GetObjectAcl, reduced to the grants a copy must re-send.
    pub async fn grants(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Grants, CallError> {
        let req = object!(self.client.get_object_acl(), bucket, key, version_id).send();
        let o = self.call("GetObjectAcl", true, req).await?;
        let owner = o.owner().and_then(|w| w.id());
        let grants: Vec<(String, Permission)> = o
            .grants()
            .iter()
            .filter_map(|g| {
                let who = g.grantee()?;
                let who = if let Some(id) = who.id() {
                    format!("id=\"{id}\"")
                } else if let Some(uri) = who.uri() {
                    format!("uri=\"{uri}\"")
                } else {
                    format!("emailAddress=\"{}\"", who.email_address()?)
                };
                Some((who, g.permission()?.clone()))
            })
            .collect();
        Ok(grants_to_resend(owner, &grants))
    }

    /// CopyObject of `src` onto `bucket/key` with a new storage class; metadata and tags
    /// copied (or the tags replaced by `replace_tags`), encryption, grants, redirect and Object
    /// Lock re-sent. Returns the new version id.
    /// Idempotent for the caller only because it re-checks the object before every attempt.
    pub async fn copy_in_place(
        &self,
        src: &CopySource,
        to_class: &str,
        if_match: Option<&str>,
        head: &Head,
        grants: &Grants,
        replace_tags: Option<&[(String, String)]>,
    ) -> Result<Option<String>, CallError> {
        let b = self
            .client
            .copy_object()
            .bucket(&src.bucket)
            .key(&src.key)
            .copy_source(src.header())
            .set_copy_source_if_match(if_match.map(quote))
            .storage_class(StorageClass::from(to_class))
            .metadata_directive(MetadataDirective::Copy);
        let b = match replace_tags {
            None => b.tagging_directive(TaggingDirective::Copy),
            Some(tags) => b
                .tagging_directive(TaggingDirective::Replace)
                .set_tagging((!tags.is_empty()).then(|| tag_query(tags))),
        };
        let b = preserve!(b, head, grants);
        let o = self.call("CopyObject", true, b.send()).await?;
        Ok(o.version_id().map(str::to_owned))
    }

    /// GetObjectTagging.
    pub async fn get_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Vec<(String, String)>, CallError> {
        let req = object!(self.client.get_object_tagging(), bucket, key, version_id).send();
        let o = self.call("GetObjectTagging", true, req).await?;
        Ok(o.tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    /// PutObjectTagging (replaces the whole tag set).
    pub async fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), CallError> {
        let set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CallError::local("PutObjectTagging", e.to_string()))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(set))
            .build()
            .map_err(|e| CallError::local("PutObjectTagging", e.to_string()))?;
        let req = object!(self.client.put_object_tagging(), bucket, key, version_id)
            .tagging(tagging)
            .send();
        self.call("PutObjectTagging", true, req).await?;
        Ok(())
    }

    /// CreateMultipartUpload for an in-place multipart copy: storage class, metadata, tags,
    /// encryption, grants, redirect and Object Lock all given explicitly (nothing is copied).
    /// Not idempotent: a timeout is `Ambiguous`.
    pub async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        to_class: &str,
        head: &Head,
        grants: &Grants,
        tags: &[(String, String)],
    ) -> Result<String, CallError> {
        let m = &head.meta;
        let b = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .storage_class(StorageClass::from(to_class))
            .set_content_type(m.content_type.clone())
            .set_cache_control(m.cache_control.clone())
            .set_content_disposition(m.content_disposition.clone())
            .set_content_encoding(m.content_encoding.clone())
            .set_content_language(m.content_language.clone())
            .set_expires(m.expires)
            .set_metadata((!m.metadata.is_empty()).then(|| m.metadata.clone()))
            .set_tagging((!tags.is_empty()).then(|| tag_query(tags)));
        let b = preserve!(b, head, grants);
        let o = self.call("CreateMultipartUpload", false, b.send()).await?;
        o.upload_id().map(str::to_owned).ok_or_else(|| {
            CallError::local("CreateMultipartUpload", "no upload id in the response")
        })
    }

    /// UploadPartCopy of `bytes=first-last`; returns the part's ETag.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        src: &CopySource,
        upload_id: &str,
        part: i32,
        first: u64,
        last: u64,
        if_match: Option<&str>,
    ) -> Result<String, CallError> {
        let req = self
            .client
            .upload_part_copy()
            .bucket(&src.bucket)
            .key(&src.key)
            .upload_id(upload_id)
            .part_number(part)
            .copy_source(src.header())
            .copy_source_range(format!("bytes={first}-{last}"))
            .set_copy_source_if_match(if_match.map(quote))
            .send();
        let o = self.call("UploadPartCopy", true, req).await?;
        o.copy_part_result()
            .and_then(|r| r.e_tag())
            .map(str::to_owned)
            .ok_or_else(|| CallError::local("UploadPartCopy", "no ETag in the response"))
    }

    /// CompleteMultipartUpload; returns the new version id.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<Option<String>, CallError> {
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                    .collect(),
            ))
            .build();
        let req = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(done)
            .send();
        let o = self.call("CompleteMultipartUpload", true, req).await?;
        Ok(o.version_id().map(str::to_owned))
    }

    /// AbortMultipartUpload of an upload this run created.
    pub async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), CallError> {
        let req = self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send();
        match self.call("AbortMultipartUpload", true, req).await {
            Err(e) if e.class != Class::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// In-progress multipart uploads of exactly `key`.
    pub async fn list_uploads(&self, bucket: &str, key: &str) -> Result<Vec<Upload>, CallError> {
        let req = self
            .client
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(key)
            .send();
        let o = self.call("ListMultipartUploads", true, req).await?;
        Ok(o.uploads()
            .iter()
            .filter(|u| u.key() == Some(key))
            .filter_map(|u| {
                Some(Upload {
                    upload_id: u.upload_id()?.to_owned(),
                    key: key.to_owned(),
                    initiated: u.initiated().and_then(|d| SystemTime::try_from(*d).ok()),
                })
            })
            .collect())
    }

    /// GetBucketVersioning: `Enabled` or `Suspended`, `None` when versioning was never
    /// enabled.
    pub async fn get_versioning(&self, bucket: &str) -> Result<Option<String>, CallError> {
        let req = self.client.get_bucket_versioning().bucket(bucket).send();
        let o = self.call("GetBucketVersioning", true, req).await?;
        Ok(o.status().map(|s| s.as_str().to_owned()))
    }

    /// GetBucketLifecycleConfiguration (no configuration = empty document).
    pub async fn get_lifecycle(&self, bucket: &str) -> Result<LifecycleDoc, CallError> {
        let req = self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send();
        match self
            .call("GetBucketLifecycleConfiguration", true, req)
            .await
        {
            Ok(o) => Ok(LifecycleDoc {
                rules: o.rules().to_vec(),
                min_size: o.transition_default_minimum_object_size().cloned(),
            }),
            Err(e) if e.class == Class::NotFound => Ok(LifecycleDoc::default()),
            Err(e) => Err(e),
        }
    }

    /// PutBucketLifecycleConfiguration with the whole document (and the minimum-size setting
    /// echoed back as read).
    pub async fn put_lifecycle(&self, bucket: &str, doc: &LifecycleDoc) -> Result<(), CallError> {
        let conf = BucketLifecycleConfiguration::builder()
            .set_rules(Some(doc.rules.clone()))
            .build()
            .map_err(|e| CallError::local("PutBucketLifecycleConfiguration", e.to_string()))?;
        let mut req = self
            .client
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(conf);
        if let Some(m) = &doc.min_size {
            req = req.transition_default_minimum_object_size(m.clone());
        }
        self.call("PutBucketLifecycleConfiguration", true, req.send())
            .await?;
        Ok(())
    }

    /// RestoreObject. `days: None` for Intelligent-Tiering archive tiers (they take none).
    pub async fn restore(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        days: Option<i32>,
        tier: &Tier,
    ) -> Result<(), CallError> {
        let mut r = RestoreRequest::builder().set_days(days);
        if days.is_some() {
            let params = GlacierJobParameters::builder()
                .tier(tier.clone())
                .build()
                .map_err(|e| CallError::local("RestoreObject", e.to_string()))?;
            r = r.glacier_job_parameters(params);
        }
        let req = object!(self.client.restore_object(), bucket, key, version_id)
            .restore_request(r.build())
            .send();
        self.call("RestoreObject", true, req).await?;
        Ok(())
    }
}

fn quote(etag: &str) -> String {
    format!("\"{}\"", unquote(etag))
}

/// Tags as the URL query string `x-amz-tagging` expects.
pub fn tag_query(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_is_url_encoded() {
        let s = CopySource {
            bucket: "b".into(),
            key: "docker/registry/v2/blobs/sha256/ab/ab c+d/data".into(),
            version_id: Some("3/L4kqtJl+cP".into()),
        };
        assert_eq!(
            s.header(),
            "b/docker/registry/v2/blobs/sha256/ab/ab%20c%2Bd/data?versionId=3%2FL4kqtJl%2BcP"
        );
    }

    #[test]
    fn grants_to_resend_only_when_not_default() {
        let me = "id=\"owner\"".to_owned();
        let all = "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"".to_owned();
        assert!(grants_to_resend(Some("owner"), &[]).is_default());
        assert!(
            grants_to_resend(Some("owner"), &[(me.clone(), Permission::FullControl)]).is_default()
        );
        let g = grants_to_resend(
            Some("owner"),
            &[
                (me.clone(), Permission::FullControl),
                (all.clone(), Permission::Read),
            ],
        );
        assert_eq!(g.read, vec![all.clone()]);
        assert_eq!(g.full_control, vec![me.clone()]);
        // The owner's grant is added when the ACL names only others.
        let g = grants_to_resend(Some("owner"), &[(all.clone(), Permission::ReadAcp)]);
        assert_eq!(g.read_acp, vec![all]);
        assert_eq!(g.full_control, vec![me]);
        assert_eq!(
            Grants::header(&["a".into(), "b".into()]).as_deref(),
            Some("a, b")
        );
    }

    #[test]
    fn restore_header() {
        assert_eq!(
            parse_restore(r#"ongoing-request="true""#),
            Some(RestoreState::Ongoing)
        );
        assert_eq!(
            parse_restore(
                r#"ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT""#
            ),
            Some(RestoreState::Done)
        );
        assert_eq!(parse_restore("junk"), None);
    }

    #[test]
    fn tags_and_etags() {
        assert_eq!(
            tag_query(&[("a b".into(), "x=y".into()), ("k".into(), "v".into())]),
            "a%20b=x%3Dy&k=v"
        );
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(quote("abc"), "\"abc\"");
    }
}
