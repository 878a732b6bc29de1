//! The module graph of `src/` points one way (ARCHITECTURE.md, "Dependency direction").
//!
//! Every `crate::<module>` path in a source file is an edge from the file's top-level module to
//! `<module>`. Each module has a fixed list of modules it may use; an edge outside that list, or
//! a module missing from the table, fails this test with the file and line. The table is the
//! graph drawn in ARCHITECTURE.md: change both together.
//! See: issue 14.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Which modules each top-level module of `src/` may name with `crate::…`.
///
/// Layers, bottom up: the vocabulary (`model`), pure pricing (`cost`), base utilities (files,
/// the lake, S3, config), the stages in pipeline order (ingest ← query/stats ← plan ← report),
/// `apply` beside them on the plan's file format only, orchestration (`pipeline`, `run`,
/// `demo`, `backtest`), and at the top the CLI (`cli`, `commands`, `lib.rs`, `main.rs`).
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("io", &[]),
    ("crashpoint", &["io"]),
    ("progress", &["model"]),
    ("cost", &["model"]),
    ("config", &["model", "cost", "io"]),
    ("lake", &["io", "crashpoint", "model"]),
    ("s3", &["model", "io"]),
    ("storage", &["s3", "io", "model"]),
    (
        "s3lake",
        &["s3", "storage", "lake", "io", "crashpoint", "model"],
    ),
    (
        "ingest",
        &[
            "model",
            "cost",
            "config",
            "io",
            "lake",
            "storage",
            "s3",
            "crashpoint",
            "progress",
        ],
    ),
    ("query", &["model", "ingest", "lake", "io", "config"]),
    // Image references in use, resolved through the graph tables (`query`) for `plan`.
    ("pins", &["query", "lake", "model"]),
    (
        "stats",
        &[
            "query",
            "ingest",
            "model",
            "lake",
            "io",
            "crashpoint",
            "config",
            "progress",
        ],
    ),
    (
        "plan",
        &[
            "query",
            "pins",
            "cost",
            "model",
            "config",
            "lake",
            "io",
            "crashpoint",
            "progress",
        ],
    ),
    (
        "report",
        &[
            "plan",
            "stats",
            "query",
            "ingest",
            "cost",
            "model",
            "config",
            "lake",
            "io",
            "crashpoint",
        ],
    ),
    ("retention", &["config", "lake", "io", "model"]),
    ("init", &["config", "model", "cost", "io"]),
    ("apply", &["plan", "model", "s3", "io", "progress"]),
    // Orchestration: runs several stages in order. Never the CLI.
    (
        "pipeline",
        &[
            "ingest",
            "query",
            "stats",
            "plan",
            "report",
            "config",
            "lake",
            "io",
            "model",
            "storage",
            "progress",
            "crashpoint",
            "cost",
        ],
    ),
    (
        "backtest",
        &[
            "pipeline",
            "ingest",
            "query",
            "stats",
            "plan",
            "report",
            "config",
            "lake",
            "io",
            "model",
            "cost",
            "crashpoint",
        ],
    ),
    (
        "run",
        &[
            "pipeline",
            "ingest",
            "query",
            "stats",
            "plan",
            "report",
            "retention",
            "config",
            "lake",
            "io",
            "model",
            "s3lake",
            "storage",
            "s3",
            "progress",
            "crashpoint",
        ],
    ),
    (
        "demo",
        &[
            "pipeline", "ingest", "query", "stats", "plan", "report", "config", "lake", "io",
            "model", "storage", "progress",
        ],
    ),
    ("logging", &["progress"]),
    ("cli", &["model"]),
];

/// Modules that may use anything: the command layer and the crate root / binary.
const TOP: &[&str] = &["commands", "lib", "main"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).expect("read src dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/plan/file.rs` → `plan`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("non-empty");
    let s = first.as_os_str().to_string_lossy();
    s.strip_suffix(".rs").unwrap_or(&s).to_string()
}

/// Every `crate::<ident>` in `text` outside line comments, with its line number. A file's unit
/// tests (`#[cfg(test)]` followed by `mod …`, by convention at the end of the file) are not
/// read: a test may cross layers to check a contract between them.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]"
            && lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty())
                .is_some_and(|l| l.starts_with("mod ") && l.ends_with('{'))
        {
            break;
        }
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = &rest[..at];
            let after = &rest[at + "crate::".len()..];
            // `$crate::` inside macros and `other_crate::` are not edges.
            let prefixed = before
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !prefixed && !ident.is_empty() {
                out.push((i + 1, ident));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn crate_imports_follow_the_pipeline_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );

    let mut wrong = Vec::new();
    let mut edges = 0;
    for file in &files {
        let from = module_of(&src, file);
        if TOP.contains(&from.as_str()) {
            continue;
        }
        let Some(ok) = allowed.get(from.as_str()) else {
            wrong.push(format!(
                "{}: module `{from}` is not in the dependency table (tests/it/architecture.rs, ARCHITECTURE.md)",
                file.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).expect("read source");
        for (line, to) in crate_refs(&text) {
            if to == from {
                continue;
            }
            edges += 1;
            if !ok.contains(&to.as_str()) {
                wrong.push(format!(
                    "{}:{line}: `{from}` uses `crate::{to}`, against the dependency direction",
                    file.display()
                ));
            }
        }
    }
    assert!(edges > 20, "found only {edges} cross-module references");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_scanner_finds_edges_and_skips_comments_and_macros() {
    let text = "use crate::plan::file;\n// crate::apply in a comment\nlet x = $crate::io::f(); crate::cost::x(crate::model::Y);\n#[cfg(test)]\nmod tests {\n    use crate::apply;\n}\n";
    let refs = crate_refs(text);
    assert_eq!(
        refs,
        vec![
            (1, "plan".to_string()),
            (3, "cost".to_string()),
            (3, "model".to_string())
        ]
    );
}
