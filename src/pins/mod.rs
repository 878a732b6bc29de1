//! Pins: image references in use (`--pins FILE`, `[run] pins`), resolved through the image
//! graph to every blob they reach, so that the plan keeps those blobs where they are
//! (`kept:pinned`) and restores them if archived (`restore:pinned`). A Deployment pinned to
//! `repo@sha256:…` may not pull for months and then pull on every node reschedule; its blobs
//! must stay servable whatever their pull history says.
//!
//! [`load`] reads the files ([`read`]: plain `repo@sha256:…` lines, or the JSON of `kubectl
//! get pods -A -o json`), then the newest `manifest_refs` snapshot on or before as-of (each
//! manifest's closure: itself, an index's platform manifests, their configs and layers) and
//! keeps the blobs of the pinned manifests.
//!
//! Invariants:
//! - a pinned digest the image graph does not know as a manifest (or a lake without a graph)
//!   is never dropped silently: it is counted in [`Summary::unknown`], shown in
//!   [`Summary::unknown_sample`] and warned about;
//! - memory is bounded by the distinct pinned digests and the blobs they reach: the files are
//!   streamed ([`read`]) and `manifest_refs` is read one record batch at a time.
//!
//! Must not: decide anything about a blob (the plan does), or write to the lake.

pub mod read;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use chrono::NaiveDate;
use serde::Serialize;

use crate::lake::Lake;
use crate::model::Digest;
pub use read::{reference_digest, References};

/// Pinned digests shown in the summary and the warning when the graph does not know them.
pub const SAMPLE: usize = 20;

/// Pins errors: the command stops before planning.
#[derive(Debug, thiserror::Error)]
pub enum PinsError {
    /// A pins file that cannot be read.
    #[error("failed to read pins file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A plain line that is not a reference by digest.
    #[error("invalid pins file `{}:{line}`: {reason}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Why.
        reason: String,
    },
    /// JSON that is not `kubectl get pods -o json`.
    #[error("failed to parse pins file `{}` as `kubectl get pods -o json`: {reason}", path.display())]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The JSON parser's message (with line and column).
        reason: String,
    },
    /// The graph's `manifest_refs` that does not read.
    #[error("failed to read `{}`: {reason}", path.display())]
    Graph {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Result alias.
pub type Result<T, E = PinsError> = std::result::Result<T, E>;

/// What the pins gave (the `pins` object of `plan.summary.json` and of the run record).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// The files read, in order.
    pub files: Vec<String>,
    /// References read (repeats included).
    pub references: u64,
    /// kubectl values without a digest (tags, empty `imageID`s): not pins.
    pub without_digest: u64,
    /// Distinct pinned digests.
    pub digests: u64,
    /// Of those, manifests in the image graph.
    pub resolved: u64,
    /// Of those, digests the image graph does not know as manifests: their blobs are not
    /// protected (a digest of another registry, or an image deleted since).
    pub unknown: u64,
    /// The first [`SAMPLE`] unknown ones, as referenced.
    pub unknown_sample: Vec<String>,
    /// Distinct blobs the resolved pins reach (manifests included).
    pub blobs: u64,
    /// The graph snapshot they were resolved through (`None`: the lake has no image graph on
    /// or before as-of, and every pin is unknown).
    pub graph_snapshot: Option<String>,
}

/// The pinned blobs and how they were found.
#[derive(Debug, Default)]
pub struct Pins {
    /// Every blob a pin reaches, as `sha256:<hex>` (the plan's digest strings).
    pub blobs: HashSet<String>,
    /// Counts.
    pub summary: Summary,
}

impl Pins {
    /// Whether the blob `digest` (`sha256:<hex>`) is pinned.
    pub fn contains(&self, digest: &str) -> bool {
        self.blobs.contains(digest)
    }
}

/// Reads `files` and resolves their digests through the lake's newest image graph on or
/// before `as_of`. `None` when no file is given.
pub fn load(lake: &Lake, as_of: NaiveDate, files: &[PathBuf]) -> Result<Option<Pins>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut refs = References::default();
    for f in files {
        refs.file(f)?;
    }
    let graph = crate::query::tables::graph_snapshot(lake, as_of);
    let (snapshot, closures) = match &graph {
        Some((date, [_, manifest_refs, _])) => {
            let wanted: HashSet<Digest> = refs.digests.keys().copied().collect();
            (Some(date.clone()), closures_of(manifest_refs, &wanted)?)
        }
        None => (None, BTreeMap::new()),
    };
    let mut pins = Pins {
        summary: Summary {
            files: files.iter().map(|f| f.display().to_string()).collect(),
            references: refs.references,
            without_digest: refs.without_digest,
            digests: refs.digests.len() as u64,
            graph_snapshot: snapshot,
            ..Default::default()
        },
        ..Default::default()
    };
    for (d, shown) in &refs.digests {
        match closures.get(d) {
            Some(blobs) => {
                pins.summary.resolved += 1;
                pins.blobs.extend(blobs.iter().cloned());
            }
            None => {
                pins.summary.unknown += 1;
                if pins.summary.unknown_sample.len() < SAMPLE {
                    pins.summary.unknown_sample.push(shown.clone());
                }
            }
        }
    }
    pins.summary.blobs = pins.blobs.len() as u64;
    let s = &pins.summary;
    if s.unknown > 0 {
        tracing::warn!(
            unknown = s.unknown,
            of = s.digests,
            graph_snapshot = s.graph_snapshot.as_deref().unwrap_or("none"),
            sample = %s.unknown_sample.join(", "),
            "pinned digests not in the lake's image graph: their blobs are not protected (ingest with `--registry-storage`?)"
        );
    }
    tracing::info!(
        digests = s.digests,
        resolved = s.resolved,
        blobs = s.blobs,
        "pins resolved"
    );
    Ok(Some(pins))
}

/// The closure (as `sha256:<hex>` strings) of every manifest of `wanted` that `path` (a
/// `manifest_refs` part file) lists, read one record batch at a time.
fn closures_of(path: &Path, wanted: &HashSet<Digest>) -> Result<BTreeMap<Digest, Vec<String>>> {
    let bad = |reason: String| PinsError::Graph {
        path: path.to_owned(),
        reason,
    };
    let f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| bad(e.to_string()))?
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut out: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let col = |name: &str| {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| bad(format!("missing column `{name}`")))?;
            arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
                .map_err(|e| bad(format!("column `{name}`: {e}")))
        };
        let (manifest, digest) = (col("manifest")?, col("digest")?);
        let (manifest, digest) = (manifest.as_string::<i32>(), digest.as_string::<i32>());
        for i in 0..batch.num_rows() {
            if manifest.is_null(i) || digest.is_null(i) {
                continue;
            }
            let Some(m) = Digest::parse(manifest.value(i).as_bytes()) else {
                continue;
            };
            if wanted.contains(&m) {
                out.entry(m).or_default().push(digest.value(i).to_owned());
            }
        }
    }
    Ok(out)
}
