//! How the registry saw a request: method, URI, status, bytes written, content type, error.
//! Shared by the JSON, combined and notification renderers so that they cannot disagree.
//!
//! Two status views exist on purpose (documented in `docs/sample-data.md`): the JSON log and
//! the notifications model the default S3 setup where blob GETs/HEADs are answered `307` with a
//! presigned URL; the combined access log models the same requests answered by a registry that
//! streams blobs itself (`200`, `206` for range resumes), so that parsers see both shapes.

use std::fmt::Write as _;

use crate::fmtu::{self, query_escape};
use crate::rng::{mix, Rng};
use crate::traffic::{By, Op, Part, Req, TYPO_TAGS};
use crate::world::Blob;
use crate::Ctx;

/// Registry host name clients use.
pub(crate) const HOST: &str = "registry.example.com";
/// S3 virtual-hosted endpoint of the bucket.
pub(crate) const S3_HOST: &str = "registry-prod.s3.amazonaws.com";
/// S3 bucket name.
pub(crate) const BUCKET: &str = "registry-prod";
/// The blob key prefix (rootdirectory "").
pub(crate) const ROOT: &str = "docker/registry/v2";

/// An error the registry returned.
pub(crate) struct ErrInfo {
    /// `err.code` as logged (`ErrorCode.Error()`): lower case with spaces.
    pub(crate) code: &'static str,
    pub(crate) message: &'static str,
    /// `err.detail` as logged.
    pub(crate) detail: String,
    /// `vars.*` logged with the error: (key, value).
    pub(crate) vars: Vec<(&'static str, String)>,
}

/// The registry's view of a request.
pub(crate) struct View {
    pub(crate) method: &'static str,
    pub(crate) uri: String,
    /// Status in the redirect setup (JSON log, notifications).
    pub(crate) status: u16,
    pub(crate) written: u64,
    pub(crate) ctype: Option<&'static str>,
    pub(crate) err: Option<ErrInfo>,
    /// 401 on `/v2/`: logged as a warning without response fields.
    pub(crate) unauthorized: bool,
    /// Status and bytes in the streaming setup (combined access log).
    pub(crate) c_status: u16,
    pub(crate) c_bytes: u64,
}

/// `sha256:<hex>`
pub(crate) fn digest_str(b: &Blob) -> String {
    format!("sha256:{}", b.hex())
}

/// A digest nobody pushed, derived from a request seed.
pub(crate) fn unknown_digest(rid: u64) -> [u8; 32] {
    let mut r = Rng::new(mix(rid, 0xD16E));
    r.bytes()
}

/// S3 key of a blob's data.
pub(crate) fn blob_key(hex: &str) -> String {
    format!("{ROOT}/blobs/sha256/{}/{hex}/data", &hex[..2])
}

/// The access key the registry signs presigned URLs with.
pub(crate) fn access_key(seed: u64) -> String {
    let mut r = Rng::stream(seed, "access-key", 0);
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut s = String::from("AKIA");
    for _ in 0..16 {
        s.push(A[r.index(A.len())] as char);
    }
    s
}

/// The SigV4 presign query string for a GET/HEAD of `key` at `ts` (signature from `rid`).
pub(crate) fn presign_query(ctx: &Ctx, ts: i64, rid: u64) -> String {
    let mut q = String::with_capacity(260);
    q.push_str("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    q.push_str(&ctx.access_key);
    q.push_str("%2F");
    fmtu::amz_day(&mut q, ts);
    q.push_str("%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=");
    fmtu::amz_date(&mut q, ts);
    q.push_str("&X-Amz-Expires=1200&X-Amz-SignedHeaders=host&X-Amz-Signature=");
    let mut r = Rng::new(mix(rid, 0x516));
    q.push_str(&hex::encode(r.bytes::<32>()));
    q
}

fn html_escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'&' => 5,
            b'<' | b'>' => 4,
            b'"' | b'\'' => 5,
            _ => 1,
        })
        .sum()
}

/// Body length Go's `http.Redirect` writes for a GET (`<a href="…">Temporary Redirect</a>.` +
/// two newlines).
fn redirect_body_len(url: &str) -> u64 {
    (9 + html_escaped_len(url) + 2 + "Temporary Redirect".len() + 5 + 2) as u64
}

fn upload_state(repo: &str, up: u64, offset: u64, ts: i64) -> String {
    let mut r = Rng::new(mix(up, offset ^ 0x57A7E));
    let mut raw: Vec<u8> = r.bytes::<32>().to_vec();
    let mut started = String::new();
    fmtu::rfc3339_nano(&mut started, ts - ts % fmtu::NS, 0);
    let json = format!(
        "{{\"Name\":\"{repo}\",\"UUID\":\"{}\",\"Offset\":{offset},\"StartedAt\":\"{started}\"}}",
        fmtu::uuid_from(up)
    );
    raw.extend_from_slice(json.as_bytes());
    query_escape(&fmtu::base64url(&raw))
}

const JSON_UTF8: &str = "application/json; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// The registry's view of `req` (registry requests only).
pub(crate) fn view(ctx: &Ctx, req: &Req) -> View {
    let w = &ctx.w;
    let repo_name = |r: u32| w.repos[r as usize].name.as_str();
    let simple = |method, uri: String, status, written, ctype| View {
        method,
        uri,
        status,
        written,
        ctype,
        err: None,
        unauthorized: false,
        c_status: status,
        c_bytes: written,
    };
    match req.op {
        Op::BaseUnauth => {
            let body = "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\",\"detail\":null}]}\n";
            let mut v = simple(
                "GET",
                "/v2/".into(),
                401,
                body.len() as u64,
                Some(JSON_UTF8),
            );
            v.unauthorized = true;
            v
        }
        Op::BaseOk => simple("GET", "/v2/".into(), 200, 2, Some(JSON_UTF8)),
        Op::ManifestGet { img, by, head } => {
            let im = &w.images[img as usize];
            let m = &w.blobs[im.manifest as usize];
            let reference = match by {
                By::Latest => "latest".to_string(),
                By::Tag => im.tag.clone(),
                By::Digest => digest_str(m),
            };
            let uri = format!("/v2/{}/manifests/{reference}", repo_name(im.repo));
            let written = if head { 0 } else { m.size };
            simple(
                if head { "HEAD" } else { "GET" },
                uri,
                200,
                written,
                Some(im.media_type()),
            )
        }
        Op::ManifestMissing { repo, tag } => {
            let tag = TYPO_TAGS[tag as usize];
            let body = format!(
                "{{\"errors\":[{{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{{\"Tag\":\"{tag}\"}}}}]}}\n"
            );
            let mut v = simple(
                "GET",
                format!("/v2/{}/manifests/{tag}", repo_name(repo)),
                404,
                body.len() as u64,
                Some(JSON_UTF8),
            );
            v.err = Some(ErrInfo {
                code: "manifest unknown",
                message: "manifest unknown",
                detail: format!("unknown tag={tag}"),
                vars: vec![
                    ("vars.name", repo_name(repo).to_string()),
                    ("vars.reference", tag.to_string()),
                ],
            });
            v
        }
        Op::ManifestPut { img, latest } => {
            let im = &w.images[img as usize];
            let tag = if latest { "latest" } else { im.tag.as_str() };
            simple(
                "PUT",
                format!("/v2/{}/manifests/{tag}", repo_name(im.repo)),
                201,
                0,
                None,
            )
        }
        Op::ManifestDelete { img } => {
            let im = &w.images[img as usize];
            simple(
                "DELETE",
                format!(
                    "/v2/{}/manifests/{}",
                    repo_name(im.repo),
                    digest_str(&w.blobs[im.manifest as usize])
                ),
                202,
                0,
                None,
            )
        }
        Op::BlobGet { repo, blob, part } => {
            let b = &w.blobs[blob as usize];
            let hex = b.hex();
            let url = format!(
                "https://{S3_HOST}/{}?{}",
                blob_key(&hex),
                presign_query(ctx, req.ts, req.rid)
            );
            let (c_status, c_bytes) = match part {
                Part::Full => (200, b.size),
                Part::Cut(n) => (200, n),
                Part::Resume(off) => (206, b.size - off),
            };
            View {
                method: "GET",
                uri: format!("/v2/{}/blobs/sha256:{hex}", repo_name(repo)),
                status: 307,
                written: redirect_body_len(&url),
                ctype: Some(TEXT_HTML),
                err: None,
                unauthorized: false,
                c_status,
                c_bytes,
            }
        }
        Op::BlobHead { repo, blob } => {
            let b = &w.blobs[blob as usize];
            View {
                method: "HEAD",
                uri: format!("/v2/{}/blobs/sha256:{}", repo_name(repo), b.hex()),
                status: 307,
                written: 0,
                ctype: Some(TEXT_HTML),
                err: None,
                unauthorized: false,
                c_status: 200,
                c_bytes: 0,
            }
        }
        Op::BlobHeadMissing { repo, blob } => {
            let d = digest_str(&w.blobs[blob as usize]);
            blob_unknown(repo_name(repo), d, true)
        }
        Op::BlobMissing { repo } => {
            let d = format!("sha256:{}", hex::encode(unknown_digest(req.rid)));
            blob_unknown(repo_name(repo), d, false)
        }
        Op::UploadStart { repo, .. } => simple(
            "POST",
            format!("/v2/{}/blobs/uploads/", repo_name(repo)),
            202,
            0,
            None,
        ),
        Op::UploadPatch { repo, up, .. } => {
            let name = repo_name(repo);
            simple(
                "PATCH",
                format!(
                    "/v2/{name}/blobs/uploads/{}?_state={}",
                    fmtu::uuid_from(up),
                    upload_state(name, up, 0, req.ts)
                ),
                202,
                0,
                None,
            )
        }
        Op::UploadPut { repo, up, blob } => {
            let name = repo_name(repo);
            let b = &w.blobs[blob as usize];
            let mut uri = format!(
                "/v2/{name}/blobs/uploads/{}?_state={}",
                fmtu::uuid_from(up),
                upload_state(name, up, b.size, req.ts)
            );
            let _ = write!(uri, "&digest=sha256%3A{}", b.hex());
            simple("PUT", uri, 201, 0, None)
        }
        Op::Mount { repo, blob, from } => {
            let b = &w.blobs[blob as usize];
            simple(
                "POST",
                format!(
                    "/v2/{}/blobs/uploads/?from={}&mount=sha256%3A{}",
                    repo_name(repo),
                    query_escape(repo_name(from)),
                    b.hex()
                ),
                201,
                0,
                None,
            )
        }
        Op::S3Revalidate { .. } | Op::S3Expired { .. } | Op::GcDelete { .. } => {
            unreachable!("S3-only request has no registry view")
        }
    }
}

fn blob_unknown(repo: &str, digest: String, head: bool) -> View {
    let body_len = format!(
        "{{\"errors\":[{{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown to registry\",\"detail\":\"{digest}\"}}]}}\n"
    )
    .len() as u64;
    let written = if head { 0 } else { body_len };
    View {
        method: if head { "HEAD" } else { "GET" },
        uri: format!("/v2/{repo}/blobs/{digest}"),
        status: 404,
        written,
        ctype: Some(JSON_UTF8),
        err: Some(ErrInfo {
            code: "blob unknown",
            message: "blob unknown to registry",
            detail: digest.clone(),
            vars: vec![("vars.digest", digest), ("vars.name", repo.to_string())],
        }),
        unauthorized: false,
        c_status: 404,
        c_bytes: written,
    }
}

/// `remoteaddr` as the registry logs it: `ip:port` (`[v6]:port`) on instance 0; instance 1
/// sits behind nginx and logs the first `X-Forwarded-For` entry (no port).
pub(crate) fn remote_addr(ctx: &Ctx, req: &Req) -> String {
    let c = &ctx.w.clients[req.client as usize];
    if req.inst == 1 {
        return c.ip.clone();
    }
    let port = 32_768 + (mix(req.rid, 0x9047) % 28_000);
    if c.v6 {
        format!("[{}]:{port}", c.ip)
    } else {
        format!("{}:{port}", c.ip)
    }
}

/// Request duration in ns (for `http.response.duration`).
pub(crate) fn duration_ns(req: &Req, v: &View) -> u64 {
    let h = mix(req.rid, 0xD0A);
    let base = match (v.status, v.method) {
        (401, _) | (200, "GET") if v.uri == "/v2/" => 60_000 + h % 400_000,
        (307, _) => 900_000 + h % 9_000_000,
        (201, "PUT") => 8_000_000 + h % 60_000_000,
        (202, "PATCH") => 200_000_000 + h % 4_000_000_000,
        (404, _) => 400_000 + h % 3_000_000,
        _ => 1_500_000 + h % 25_000_000,
    };
    // A few slow ones.
    if h.is_multiple_of(97) {
        base * 40 + 1_234_567_891
    } else {
        base
    }
}
