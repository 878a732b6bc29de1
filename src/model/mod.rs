//! Shared vocabulary of every stage: digests, storage classes ([`StorageClass`]), the plan's
//! closed vocabularies ([`Method`], [`RestoreTier`], [`Estimator`], [`Action`]), user-agent
//! classes, the registry storage layout, sizes with units ([`units`]) and the stats windows
//! ([`windows`]).
//!
//! Invariants: a [`Digest`] is always a valid lower-case `sha256:<64 hex>`; key → digest
//! mapping is the only place that knows the distribution storage layout; every name of a
//! vocabulary is written once, in its enum, and parsed once, where a string enters (config
//! validation, a Parquet row).
//! This module does no I/O and depends on no other module of the crate.

use std::fmt;
use std::str::FromStr;

pub mod schema;
mod storage_class;
pub mod units;
mod vocab;
pub mod windows;

pub use storage_class::StorageClass;
pub(crate) use vocab::vocabulary;
pub use vocab::{Action, Estimator, Method, RestoreTier, UnknownName};

/// Id of the `NoncurrentVersionExpiration` lifecycle rule for versioned buckets, scoped to
/// `prefix` (`None`: bucket-wide), as `apply --noncurrent-expiration` writes it and the
/// report shows it: `blobtier-noncurrent` or `blobtier-noncurrent@<prefix>`.
pub fn noncurrent_rule_id(prefix: Option<&str>) -> String {
    match prefix {
        None => "blobtier-noncurrent".to_owned(),
        Some(p) => format!("blobtier-noncurrent@{p}"),
    }
}

/// A content digest `sha256:<64 lower-case hex>`, stored as its 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Two integers that order as the digest's bytes (and so as its hex text) do: sorting by
    /// them compares two words where comparing the arrays calls `memcmp` (ingest sorts every
    /// pull row by digest).
    pub fn sort_key(&self) -> (u128, u128) {
        let (mut hi, mut lo) = ([0u8; 16], [0u8; 16]);
        hi.copy_from_slice(&self.0[..16]);
        lo.copy_from_slice(&self.0[16..]);
        (u128::from_be_bytes(hi), u128::from_be_bytes(lo))
    }

    /// Parses exactly 64 lower-case hex characters (no `sha256:` prefix).
    pub fn from_hex(hex: &[u8]) -> Option<Digest> {
        if hex.len() != 64 {
            return None;
        }
        // Branch-free: every character through a table, one check at the end (ingest parses
        // a digest per pull line).
        let mut out = [0u8; 32];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0x0f);
        }
        (bad & 0xf0 == 0).then_some(Digest(out))
    }

    /// Parses `sha256:<64 lower-case hex>`; anything else (other algorithms, upper case,
    /// wrong length) is `None`.
    pub fn parse(s: &[u8]) -> Option<Digest> {
        let hex = s.strip_prefix(b"sha256:")?;
        Digest::from_hex(hex)
    }

    /// The 64 hex characters without the algorithm prefix.
    pub fn hex(&self) -> String {
        self.text().as_str()["sha256:".len()..].to_owned()
    }

    /// `sha256:<64 hex>` on the stack: what [`fmt::Display`] writes, without a `String` per
    /// digest (ingest renders one per pull row).
    pub fn text(&self) -> DigestText {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; DigestText::LEN];
        out[..7].copy_from_slice(b"sha256:");
        for (i, b) in self.0.iter().enumerate() {
            out[7 + 2 * i] = HEX[usize::from(b >> 4)];
            out[8 + 2 * i] = HEX[usize::from(b & 0x0f)];
        }
        DigestText(out)
    }
}

/// A digest's text `sha256:<64 lower-case hex>` ([`Digest::text`]).
#[derive(Clone, Copy)]
pub struct DigestText([u8; DigestText::LEN]);

impl DigestText {
    /// Bytes of `sha256:` and 64 hex characters.
    pub const LEN: usize = 7 + 64;

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a digest's text is ASCII")
    }
}

impl AsRef<str> for DigestText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The value of a lower-case hex character, `0xff` for any other byte.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s.as_bytes()).ok_or_else(|| format!("not a `sha256:<64 hex>` digest: `{s}`"))
    }
}

/// How a pull's user agent is classified. Scanners are kept but flagged so that stats can
/// leave them out: a vulnerability scanner re-reading every layer says nothing about use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UaClass {
    /// CI and orchestrator pulls (buildkit, kaniko, containerd, cri-o, skopeo, crane …).
    Ci,
    /// Interactive clients (docker, podman).
    Human,
    /// Vulnerability scanners (trivy, grype, clair, Amazon Inspector, Prisma/Twistlock).
    Scanner,
    /// Anything else, including a missing user agent.
    Other,
}

impl UaClass {
    /// The value stored in the `ua_class` column.
    pub fn as_str(self) -> &'static str {
        match self {
            UaClass::Ci => "ci",
            UaClass::Human => "human",
            UaClass::Scanner => "scanner",
            UaClass::Other => "other",
        }
    }
}

/// Which input format a row came from (the `source` column of `pulls` and `manifest_pulls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogFormat {
    /// S3 server access logs.
    S3Access,
    /// CNCF distribution logrus JSON lines.
    RegistryJson,
    /// CNCF distribution (and Harbor) logrus text lines, logfmt: the default formatter.
    RegistryText,
    /// CNCF distribution (or nginx) Apache combined access log.
    RegistryCombined,
    /// Registry notification envelopes (compact or pretty-printed, back to back).
    Notifications,
    /// CloudFront standard access logs of a CDN in front of the registry's bucket.
    Cloudfront,
}

impl LogFormat {
    /// All formats, in the order of the docs.
    pub const ALL: [LogFormat; 6] = [
        LogFormat::S3Access,
        LogFormat::RegistryJson,
        LogFormat::RegistryText,
        LogFormat::RegistryCombined,
        LogFormat::Notifications,
        LogFormat::Cloudfront,
    ];

    /// The name used on the command line and in the lake.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::S3Access => "s3-access",
            LogFormat::RegistryJson => "registry-json",
            LogFormat::RegistryText => "registry-text",
            LogFormat::RegistryCombined => "registry-combined",
            LogFormat::Notifications => "notifications",
            LogFormat::Cloudfront => "cloudfront",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = LogFormat::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown log format `{s}` (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}

/// What an object key in the registry's storage is (`kind` column of `inventory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `<root>/docker/registry/v2/blobs/sha256/<2>/<hex>/data`
    Blob,
    /// `<root>/docker/registry/v2/repositories/<repo>/_layers/sha256/<hex>/link`
    LayerLink,
    /// `<root>/docker/registry/v2/repositories/<repo>/_manifests/revisions/sha256/<hex>/link`
    ManifestRevision,
    /// `<root>/docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/{current,index/…}/link`
    TagLink,
    /// `<root>/docker/registry/v2/repositories/<repo>/_uploads/…`
    Upload,
    /// Anything else in the bucket.
    Other,
}

impl KeyKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Blob => "blob",
            KeyKind::LayerLink => "layer_link",
            KeyKind::ManifestRevision => "manifest_revision",
            KeyKind::TagLink => "tag_link",
            KeyKind::Upload => "upload",
            KeyKind::Other => "other",
        }
    }
}

/// The distribution storage layout: where, inside a bucket, the registry keeps its files.
///
/// `root` is the driver's `rootdirectory` without leading or trailing slashes (`""` by
/// default). With `root = None` any prefix before `docker/registry/v2/` is accepted, which
/// suits buckets whose root directory is not known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The registry's root directory, or `None` to accept any.
    pub root: Option<String>,
}

const V2: &str = "docker/registry/v2/";

impl Layout {
    /// The part of `key` after `<root>/docker/registry/v2/`, if the key is inside the layout.
    fn v2_rest<'k>(&self, key: &'k str) -> Option<&'k str> {
        match &self.root {
            Some(root) if root.is_empty() => key.strip_prefix(V2),
            Some(root) => key
                .strip_prefix(root.as_str())?
                .strip_prefix('/')?
                .strip_prefix(V2),
            None => {
                if let Some(rest) = key.strip_prefix(V2) {
                    return Some(rest);
                }
                let at = key.find("/docker/registry/v2/")?;
                Some(&key[at + 1 + V2.len()..])
            }
        }
    }

    /// The digest of a blob data key (`…/blobs/sha256/<2>/<hex>/data`), checking that the
    /// two-character directory is the first byte of the digest.
    pub fn blob_digest(&self, key: &str) -> Option<Digest> {
        let rest = self.v2_rest(key)?;
        blob_rest_digest(rest)
    }

    /// Classifies a key and returns the blob digest (blobs only) and the repository
    /// (repository keys only).
    pub fn classify<'k>(&self, key: &'k str) -> (KeyKind, Option<Digest>, Option<&'k str>) {
        let Some(rest) = self.v2_rest(key) else {
            return (KeyKind::Other, None, None);
        };
        if let Some(d) = blob_rest_digest(rest) {
            return (KeyKind::Blob, Some(d), None);
        }
        let Some(repo_rest) = rest.strip_prefix("repositories/") else {
            return (KeyKind::Other, None, None);
        };
        // The repository name may contain `/`; the first `/_` component ends it.
        for (marker, kind) in [
            ("/_layers/", KeyKind::LayerLink),
            ("/_manifests/revisions/", KeyKind::ManifestRevision),
            ("/_manifests/tags/", KeyKind::TagLink),
            ("/_uploads/", KeyKind::Upload),
        ] {
            if let Some(at) = repo_rest.find(marker) {
                let repo = &repo_rest[..at];
                let tail = &repo_rest[at + marker.len()..];
                let ok = match kind {
                    KeyKind::Upload => true,
                    _ => tail.ends_with("/link"),
                };
                if ok && !repo.is_empty() {
                    return (kind, None, Some(repo));
                }
            }
        }
        (KeyKind::Other, None, None)
    }
}

fn blob_rest_digest(rest: &str) -> Option<Digest> {
    let rest = rest.strip_prefix("blobs/sha256/")?;
    let (two, rest) = rest.split_at_checked(2)?;
    let rest = rest.strip_prefix('/')?;
    let hex = rest.strip_suffix("/data")?;
    if hex.len() != 64 || !hex.starts_with(two) {
        return None;
    }
    Digest::from_hex(hex.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "07a152489297fc2bca20be96fab3527ceac5668328a30fd543a160cd689ee548";

    /// Digests sort by their sort keys exactly as by their bytes and by their text: the bytes
    /// that differ sit in either word, at either end of a word.
    #[test]
    fn digest_sort_keys_order_as_the_digests() {
        let mut ds = Vec::new();
        for at in [0usize, 7, 15, 16, 24, 31] {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = [0x55u8; 32];
                b[at] = v;
                ds.push(Digest(b));
            }
        }
        ds.push(Digest([0; 32]));
        ds.push(Digest([0xff; 32]));
        for a in &ds {
            for b in &ds {
                assert_eq!(a.sort_key().cmp(&b.sort_key()), a.0.cmp(&b.0));
                assert_eq!(a.0.cmp(&b.0), a.to_string().cmp(&b.to_string()));
            }
        }
    }

    #[test]
    fn digest_round_trip_and_rejects() {
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(d.to_string(), format!("sha256:{HEX}"));
        assert!(Digest::parse(format!("sha256:{}", HEX.to_uppercase()).as_bytes()).is_none());
        assert!(Digest::parse(format!("sha512:{HEX}").as_bytes()).is_none());
        assert!(Digest::parse(format!("sha256:{}", &HEX[1..]).as_bytes()).is_none());
    }

    #[test]
    fn layout_maps_keys() {
        let any = Layout { root: None };
        let key = format!("registry-v2/docker/registry/v2/blobs/sha256/07/{HEX}/data");
        assert_eq!(any.blob_digest(&key).unwrap().hex(), HEX);
        let plain = format!("docker/registry/v2/blobs/sha256/07/{HEX}/data");
        assert!(any.blob_digest(&plain).is_some());
        // wrong two-character directory
        let bad = format!("docker/registry/v2/blobs/sha256/08/{HEX}/data");
        assert!(any.blob_digest(&bad).is_none());
        let rooted = Layout {
            root: Some("registry-v2".into()),
        };
        assert!(rooted.blob_digest(&key).is_some());
        assert!(rooted.blob_digest(&plain).is_none());
        let empty = Layout {
            root: Some(String::new()),
        };
        assert!(empty.blob_digest(&plain).is_some());
        assert!(empty.blob_digest(&key).is_none());
    }

    #[test]
    fn layout_classifies_repository_keys() {
        let l = Layout { root: None };
        let layer = format!("docker/registry/v2/repositories/team/app/_layers/sha256/{HEX}/link");
        let (k, d, r) = l.classify(&layer);
        assert_eq!((k, d, r), (KeyKind::LayerLink, None, Some("team/app")));
        let (k, _, r) =
            l.classify("docker/registry/v2/repositories/a/_manifests/tags/v1/current/link");
        assert_eq!((k, r), (KeyKind::TagLink, Some("a")));
        let (k, _, _) = l.classify(&format!(
            "docker/registry/v2/repositories/a/_manifests/revisions/sha256/{HEX}/link"
        ));
        assert_eq!(k, KeyKind::ManifestRevision);
        let (k, _, _) = l.classify("docker/registry/v2/repositories/a/_uploads/u1/data");
        assert_eq!(k, KeyKind::Upload);
        assert_eq!(l.classify("logs/2024-01-01").0, KeyKind::Other);
    }
}
