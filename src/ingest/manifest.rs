//! Registry manifests → the blobs they reference (`formats.md` §3.3: manifests are blobs too).
//!
//! Recognised: Docker schema 2 manifests and manifest lists, OCI image manifests and indexes,
//! OCI artifact manifests, schema 1 (`fsLayers`, signed or not). The kind comes from
//! `mediaType`, or from the document's shape when it has none (OCI allows that).
//!
//! Invariant: a manifest of an unknown media type is recorded as [`Kind::Unknown`], never an
//! error, and its `config`, `layers`, `blobs`, `manifests` and `fsLayers` are still followed, so
//! that nothing it references can ever look unreferenced (and be planned into a class the
//! registry cannot serve). A document that is not JSON is [`Kind::Invalid`].
//! Pure: no I/O.

use serde_json::Value;

use crate::model::Digest;

/// What kind of manifest a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Docker schema 2 or OCI image manifest: a config and layers.
    Image,
    /// Docker manifest list or OCI index: child manifests.
    Index,
    /// Docker schema 1 (`fsLayers`).
    Schema1,
    /// OCI artifact manifest (`blobs`).
    Artifact,
    /// Valid JSON of a media type not listed above.
    Unknown,
    /// Not a JSON object.
    Invalid,
}

impl Kind {
    /// The value stored in the `kind` column of `manifests`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Index => "index",
            Kind::Schema1 => "schema1",
            Kind::Artifact => "artifact",
            Kind::Unknown => "unknown",
            Kind::Invalid => "invalid",
        }
    }

    /// Every kind.
    pub const ALL: [Kind; 6] = [
        Kind::Image,
        Kind::Index,
        Kind::Schema1,
        Kind::Artifact,
        Kind::Unknown,
        Kind::Invalid,
    ];

    /// Parses [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a manifest uses a blob it references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A child manifest of an index (or the manifest itself, in closures).
    Manifest,
    /// An image config.
    Config,
    /// A layer (also schema 1 `fsLayers` and artifact `blobs`).
    Layer,
}

impl Role {
    /// The value stored in `role` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manifest => "manifest",
            Role::Config => "config",
            Role::Layer => "layer",
        }
    }

    /// Parses [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Manifest, Role::Config, Role::Layer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One descriptor of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referenced blob.
    pub digest: Digest,
    /// How it is used.
    pub role: Role,
    /// The descriptor's media type.
    pub media_type: Option<String>,
    /// The descriptor's size.
    pub size: Option<i64>,
    /// `os/architecture[/variant]` of an index entry.
    pub platform: Option<String>,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `mediaType` as written (None when absent).
    pub media_type: Option<String>,
    /// Kind.
    pub kind: Kind,
    /// Descriptors in document order (config first), without duplicates.
    pub refs: Vec<Reference>,
    /// Descriptors whose digest is not `sha256:<64 hex>` (skipped).
    pub bad_refs: u32,
}

const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_V1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_ARTIFACT: &str = "application/vnd.oci.artifact.manifest.v1+json";

fn kind_of(media_type: Option<&str>, v: &serde_json::Map<String, Value>) -> Kind {
    match media_type.map(|m| m.split(';').next().unwrap_or("").trim()) {
        Some(DOCKER_V2 | OCI_MANIFEST) => Kind::Image,
        Some(DOCKER_LIST | OCI_INDEX) => Kind::Index,
        Some(DOCKER_V1 | DOCKER_V1_SIGNED) => Kind::Schema1,
        Some(OCI_ARTIFACT) => Kind::Artifact,
        Some(_) => Kind::Unknown,
        None => {
            if v.get("schemaVersion").and_then(Value::as_i64) == Some(1)
                || v.contains_key("fsLayers")
            {
                Kind::Schema1
            } else if v.get("manifests").is_some_and(Value::is_array) {
                Kind::Index
            } else if v.contains_key("config") {
                Kind::Image
            } else if v.contains_key("blobs") {
                Kind::Artifact
            } else {
                Kind::Unknown
            }
        }
    }
}

fn platform(d: &Value) -> Option<String> {
    let p = d.get("platform")?;
    let os = p.get("os").and_then(Value::as_str).unwrap_or("");
    let arch = p.get("architecture").and_then(Value::as_str).unwrap_or("");
    let mut s = format!("{os}/{arch}");
    if let Some(v) = p.get("variant").and_then(Value::as_str) {
        s.push('/');
        s.push_str(v);
    }
    Some(s)
}

/// Parses a manifest document.
pub fn parse(bytes: &[u8]) -> Parsed {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(bytes) else {
        return Parsed {
            media_type: None,
            kind: Kind::Invalid,
            refs: Vec::new(),
            bad_refs: 0,
        };
    };
    let media_type = v.get("mediaType").and_then(Value::as_str).map(String::from);
    let kind = kind_of(media_type.as_deref(), &v);
    let mut out = Parsed {
        media_type,
        kind,
        refs: Vec::new(),
        bad_refs: 0,
    };
    let push = |d: &Value, digest_field: &str, role: Role, out: &mut Parsed| {
        let Some(s) = d.get(digest_field).and_then(Value::as_str) else {
            out.bad_refs += 1;
            return;
        };
        let Some(digest) = Digest::parse(s.as_bytes()) else {
            out.bad_refs += 1;
            return;
        };
        if out
            .refs
            .iter()
            .any(|r| r.digest == digest && r.role == role)
        {
            return;
        }
        out.refs.push(Reference {
            digest,
            role,
            media_type: d.get("mediaType").and_then(Value::as_str).map(String::from),
            size: d.get("size").and_then(Value::as_i64),
            platform: if role == Role::Manifest {
                platform(d)
            } else {
                None
            },
        });
    };
    // Every field that can hold descriptors is followed whatever the kind: an unknown or
    // mislabelled manifest must not make the blobs it references look unreferenced.
    if let Some(c) = v.get("config").filter(|c| c.is_object()) {
        push(c, "digest", Role::Config, &mut out);
    }
    for (field, digest_field, role) in [
        ("layers", "digest", Role::Layer),
        ("blobs", "digest", Role::Layer),
        ("fsLayers", "blobSum", Role::Layer),
        ("manifests", "digest", Role::Manifest),
    ] {
        for d in v.get(field).and_then(Value::as_array).into_iter().flatten() {
            push(d, digest_field, role, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn docker_schema2_manifest() {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_V2}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"sha256:{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2811478,"digest":"sha256:{}"}},{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":10,"digest":"sha256:{}"}}]}}"#,
            h('a'),
            h('b'),
            h('c')
        );
        let p = parse(doc.as_bytes());
        assert_eq!(p.kind, Kind::Image);
        assert_eq!(p.media_type.as_deref(), Some(DOCKER_V2));
        let roles: Vec<(String, Role, Option<i64>)> = p
            .refs
            .iter()
            .map(|r| (r.digest.hex(), r.role, r.size))
            .collect();
        assert_eq!(
            roles,
            vec![
                (h('a'), Role::Config, Some(1469)),
                (h('b'), Role::Layer, Some(2_811_478)),
                (h('c'), Role::Layer, Some(10)),
            ]
        );
    }

    #[test]
    fn oci_index_with_and_without_media_type() {
        for mt in [format!(r#""mediaType":"{OCI_INDEX}","#), String::new()] {
            let doc = format!(
                r#"{{"schemaVersion":2,{mt}"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{}","size":557,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{}","size":557,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"digest":"sha512:00"}}]}}"#,
                h('1'),
                h('2')
            );
            let p = parse(doc.as_bytes());
            assert_eq!(p.kind, Kind::Index, "{doc}");
            assert_eq!(p.bad_refs, 1);
            let got: Vec<(Role, Option<&str>)> = p
                .refs
                .iter()
                .map(|r| (r.role, r.platform.as_deref()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (Role::Manifest, Some("linux/arm64/v8")),
                    (Role::Manifest, Some("linux/amd64"))
                ]
            );
        }
    }

    #[test]
    fn schema1_unknown_and_invalid() {
        // A signed schema 1 manifest: the same layer twice (schema 1 repeats empty layers).
        let doc = format!(
            r#"{{"schemaVersion":1,"name":"a/b","tag":"v1","architecture":"amd64","fsLayers":[{{"blobSum":"sha256:{}"}},{{"blobSum":"sha256:{}"}},{{"blobSum":"sha256:{}"}}],"history":[],"signatures":[{{"protected":"x"}}]}}"#,
            h('d'),
            h('e'),
            h('d')
        );
        let p = parse(doc.as_bytes());
        assert_eq!((p.kind, p.refs.len()), (Kind::Schema1, 2));
        assert!(p.refs.iter().all(|r| r.role == Role::Layer));
        // An unknown media type is recorded, and its descriptors are still followed.
        let doc = format!(
            r#"{{"mediaType":"application/vnd.example.thing+json","config":{{"digest":"sha256:{}"}},"layers":[]}}"#,
            h('f')
        );
        let p = parse(doc.as_bytes());
        assert_eq!(p.kind, Kind::Unknown);
        assert_eq!(
            p.media_type.as_deref(),
            Some("application/vnd.example.thing+json")
        );
        assert_eq!(p.refs.len(), 1);
        assert_eq!(parse(b"not json").kind, Kind::Invalid);
        assert_eq!(parse(b"[1,2]").kind, Kind::Invalid);
        // OCI artifact manifest.
        let doc = format!(
            r#"{{"mediaType":"{OCI_ARTIFACT}","artifactType":"x","blobs":[{{"digest":"sha256:{}","size":5}}]}}"#,
            h('9')
        );
        let p = parse(doc.as_bytes());
        assert_eq!((p.kind, p.refs[0].role), (Kind::Artifact, Role::Layer));
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
