//! `blobtier ingest`: access logs, inventories and the registry's storage into the lake.

use std::path::Path;

use crate::cli::IngestArgs;
use crate::config::Overrides;
use crate::ingest::{IngestRequest, LogSpec};
use crate::lake::Lake;
use crate::storage::Storage;
use crate::{Error, Outcome};

/// Ingests what the arguments name; exit 1 when an input is over the reject threshold.
pub fn ingest(config: Option<&Path>, a: IngestArgs) -> Result<Outcome, Error> {
    let cfg = super::load_config(
        config,
        Overrides {
            raw_clients: a.raw_clients,
            max_bad_ratio: a.max_bad_ratio,
            ..Default::default()
        },
    )?;
    let lake = Lake::open(&a.lake)?;
    let storage = Storage::new(cfg.s3_path_style);
    let req = IngestRequest {
        logs: a
            .logs
            .into_iter()
            .map(|l| LogSpec {
                format: l.format,
                path: l.path,
            })
            .collect(),
        inventories: a.inventory,
        registry_storage: a.registry_storage,
        graph_date: None,
    };
    let m = crate::ingest::ingest(&lake, &req, &cfg, &storage)?;
    super::print_json(&m);
    for b in &m.bad_files {
        let reasons: Vec<String> = b
            .top_reasons
            .iter()
            .map(|(r, n)| format!("{r} ({n})"))
            .collect();
        tracing::error!(input = %b.location, ratio = b.ratio, reasons = %reasons.join(", "), "too many malformed lines");
    }
    Ok(super::outcome(!m.bad_files.is_empty()))
}
