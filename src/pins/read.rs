//! Reading pins files: the digests of the image references in use, from plain lines or from
//! the JSON of `kubectl get pods -A -o json` (the first non-blank byte `{` or `[` says JSON).
//!
//! Plain lines: one reference a line, `[registry/]repo@sha256:<64 hex>` (or a bare
//! `sha256:<64 hex>`, or the `docker-pullable://` form kubectl shows); blank lines and `#`
//! comments (whole lines, or after whitespace) are skipped. A line that is none of these is
//! an error naming the file, the line and the reason: a pins file is written by hand or by a
//! script, and a typo must not unpin an image silently.
//!
//! kubectl JSON: a `List` of Pods (or one Pod). Per pod, every container, init container and
//! ephemeral container: `status.*ContainerStatuses[].imageID` (what the runtime pulled) and
//! `.image`, and `spec.*Containers[].image` (a pod that cannot pull its pinned digest has an
//! empty `imageID`, but the digest is in its spec). A value without a digest (a tag, an empty
//! `imageID`) is counted, not an error: the cluster wrote it, not the user.
//!
//! Invariants: memory does not grow with the file: lines are read one at a time and cut at
//! [`MAX_LINE`] (a longer one is an error), the JSON is streamed one pod at a time with every
//! field but those above skipped unread; only the distinct digests are kept.
//!
//! Must not: resolve digests (that is [`super::load`]) or read anything but the named file.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::Path;

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde::Deserialize;

use super::PinsError;
use crate::model::Digest;

/// Longest line of a plain pins file, in bytes (a reference is at most a few hundred).
pub const MAX_LINE: usize = 8 * 1024;
/// Longest reference kept to be shown (the `unknown_sample` of the summary).
pub const SHOWN_MAX: usize = 512;

/// What one or more pins files hold.
#[derive(Debug, Default)]
pub struct References {
    /// Each distinct digest, with the first reference that named it (as written, cut at
    /// [`SHOWN_MAX`] bytes).
    pub digests: BTreeMap<Digest, String>,
    /// References read (lines, and kubectl values with a digest), repeats included.
    pub references: u64,
    /// kubectl values without a digest (tags, empty `imageID`s).
    pub without_digest: u64,
}

/// A reference's digest: `[scheme://][registry/]repo@sha256:<hex>` or `sha256:<hex>`.
/// `Ok(None)`: no digest (a tag); `Err`: a digest that is not `sha256:<64 lower-case hex>`.
pub fn reference_digest(s: &str) -> Result<Option<Digest>, String> {
    let s = s
        .strip_prefix("docker-pullable://")
        .or_else(|| s.strip_prefix("docker://"))
        .unwrap_or(s);
    let digest = match s.rsplit_once('@') {
        Some((repo, d)) if !repo.is_empty() => d,
        Some(_) => return Err("no repository before `@`".into()),
        None if s.starts_with("sha256:") => s,
        None => return Ok(None),
    };
    Digest::parse(digest.as_bytes())
        .map(Some)
        .ok_or_else(|| format!("`{digest}` is not `sha256:<64 lower-case hex>`"))
}

fn shown(s: &str) -> String {
    let mut end = s.len().min(SHOWN_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl References {
    fn add(&mut self, d: Digest, reference: &str) {
        self.references += 1;
        self.digests.entry(d).or_insert_with(|| shown(reference));
    }

    /// Reads one pins file (`-`: standard input) into `self`.
    pub fn file(&mut self, path: &Path) -> Result<(), PinsError> {
        let open_err = |source| PinsError::Read {
            path: path.to_owned(),
            source,
        };
        let input: Box<dyn Read> = if path == Path::new("-") {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(path).map_err(open_err)?)
        };
        let mut r = std::io::BufReader::with_capacity(1 << 16, input);
        // The first non-blank byte decides the format.
        let first = loop {
            let buf = r.fill_buf().map_err(open_err)?;
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => break Some(buf[i]),
                None if buf.is_empty() => break None,
                None => {
                    let n = buf.len();
                    r.consume(n);
                }
            }
        };
        match first {
            None => Ok(()),
            Some(b'{' | b'[') => self.kubectl(path, r),
            Some(_) => self.lines(path, r),
        }
    }

    fn lines(&mut self, path: &Path, mut r: impl BufRead) -> Result<(), PinsError> {
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            line_no += 1;
            let bad = |reason: String| PinsError::BadLine {
                path: path.to_owned(),
                line: line_no,
                reason,
            };
            let n = r
                .by_ref()
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|source| PinsError::Read {
                    path: path.to_owned(),
                    source,
                })?;
            if n == 0 {
                return Ok(());
            }
            if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
                return Err(bad(format!("longer than {MAX_LINE} bytes")));
            }
            let text = std::str::from_utf8(&buf).map_err(|_| bad("not UTF-8".into()))?;
            // A comment is a `#` at the start or after whitespace.
            let text = match text.find('#') {
                Some(0) => "",
                Some(i) if text[..i].ends_with(char::is_whitespace) => &text[..i],
                _ => text,
            }
            .trim();
            if text.is_empty() {
                continue;
            }
            if text.contains(char::is_whitespace) {
                return Err(bad(format!(
                    "expected one reference a line (`repo@sha256:<64 hex>`), got `{}`",
                    shown(text)
                )));
            }
            match reference_digest(text) {
                Ok(Some(d)) => self.add(d, text),
                Ok(None) => {
                    return Err(bad(format!(
                        "`{}` has no digest: a pin is `repo@sha256:<64 hex>` (a tag can move)",
                        shown(text)
                    )))
                }
                Err(why) => return Err(bad(why)),
            }
        }
    }

    fn kubectl(&mut self, path: &Path, r: impl BufRead) -> Result<(), PinsError> {
        let mut de = serde_json::Deserializer::from_reader(r);
        let mut sink = |v: &str| match reference_digest(v) {
            Ok(Some(d)) => self.add(d, v),
            _ => self.without_digest += 1,
        };
        let bad = |e: serde_json::Error| PinsError::BadJson {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let top = Pods {
            sink: &mut sink,
            top: true,
        };
        top.deserialize(&mut de).map_err(bad)?;
        de.end().map_err(bad)
    }
}

/// What is read of a container (spec or status).
#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    image: Option<String>,
    #[serde(default, rename = "imageID")]
    image_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Spec {
    containers: Vec<Container>,
    init_containers: Vec<Container>,
    ephemeral_containers: Vec<Container>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Status {
    container_statuses: Vec<Container>,
    init_container_statuses: Vec<Container>,
    ephemeral_container_statuses: Vec<Container>,
}

#[derive(Deserialize)]
struct Pod {
    #[serde(default)]
    spec: Option<Spec>,
    #[serde(default)]
    status: Option<Status>,
}

fn pod_values(p: Pod, sink: &mut dyn FnMut(&str)) {
    let spec = p.spec.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    for c in spec
        .containers
        .iter()
        .chain(&spec.init_containers)
        .chain(&spec.ephemeral_containers)
        .chain(&status.container_statuses)
        .chain(&status.init_container_statuses)
        .chain(&status.ephemeral_container_statuses)
    {
        for v in [&c.image, &c.image_id].into_iter().flatten() {
            sink(v);
        }
    }
}

/// Pods, each deserialized and handed to the sink before the next is read. At the top level
/// (`top`): a `List` (its `items`), one Pod (`spec`, `status`), or a JSON array of pods; under
/// `items`: an array of pods.
struct Pods<'a> {
    sink: &'a mut dyn FnMut(&str),
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Pods<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.top {
            d.deserialize_any(self)
        } else {
            d.deserialize_seq(self)
        }
    }
}

impl<'de> Visitor<'de> for Pods<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.top {
            "the JSON of `kubectl get pods -o json` (a List of Pods, or a Pod)"
        } else {
            "a list of Pods"
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(p) = seq.next_element::<Pod>()? {
            pod_values(p, self.sink);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if !self.top {
            return Err(A::Error::invalid_type(Unexpected::Map, &self));
        }
        let mut pod = Pod {
            spec: None,
            status: None,
        };
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "items" => map.next_value_seed(Pods {
                    sink: &mut *self.sink,
                    top: false,
                })?,
                "spec" => pod.spec = map.next_value()?,
                "status" => pod.status = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        pod_values(pod, self.sink);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn read(text: impl AsRef<[u8]>) -> Result<References, PinsError> {
        let t = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(t.path(), text).unwrap();
        let mut r = References::default();
        r.file(t.path()).map(|()| r)
    }

    #[test]
    fn references_and_their_digests() {
        let one = Digest::parse(d(1).as_bytes()).unwrap();
        for ok in [
            format!("nginx@{}", d(1)),
            format!("docker.io/library/nginx@{}", d(1)),
            format!("registry.example.com:5000/team/app@{}", d(1)),
            format!("docker-pullable://nginx@{}", d(1)),
            format!("docker://{}", d(1)),
            d(1),
        ] {
            assert_eq!(reference_digest(&ok), Ok(Some(one)), "{ok}");
        }
        assert_eq!(reference_digest("nginx:1.25"), Ok(None));
        assert_eq!(reference_digest(""), Ok(None));
        for bad in [
            format!("@{}", d(1)),
            "nginx@sha256:ABC".to_owned(),
            format!("nginx@{}", d(1).to_uppercase()),
            "nginx@sha512:00".to_owned(),
        ] {
            assert!(reference_digest(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_lines_skip_comments_and_name_the_bad_line() {
        let r = read(format!(
            "# pinned\n\n  a/b@{}  # prod\nc@{}\r\na/b@{}\n",
            d(1),
            d(2),
            d(1)
        ))
        .unwrap();
        assert_eq!((r.digests.len(), r.references), (2, 3));
        for (text, line, why) in [
            ("a@x\n".to_owned(), 1, "is not `sha256:"),
            ("# c\nnginx:1.25\n".to_owned(), 2, "has no digest"),
            (
                format!("a@{} b@{}\n", d(1), d(2)),
                1,
                "one reference a line",
            ),
            (format!("{}\n", "x".repeat(MAX_LINE + 1)), 1, "longer than"),
        ] {
            let e = read(&text).unwrap_err().to_string();
            assert!(e.contains(&format!(":{line}`: ")) && e.contains(why), "{e}");
        }
        let e = read(b"# ok\n\xff\xfe\n").unwrap_err().to_string();
        assert!(e.contains(":2`: not UTF-8"), "{e}");
        // A line of exactly MAX_LINE bytes is read (and refused for what it holds, not its length).
        let e = read("x".repeat(MAX_LINE)).unwrap_err().to_string();
        assert!(e.contains("has no digest"), "{e}");
    }

    #[test]
    fn kubectl_json_reads_statuses_and_specs_and_counts_values_without_digest() {
        let json = format!(
            r#"{{"apiVersion":"v1","kind":"List","items":[
              {{"metadata":{{"name":"p","annotations":{{"x":"{{\"nested\":1}}"}}}},
               "spec":{{"containers":[{{"name":"a","image":"nginx:1.25"}}],
                        "initContainers":[{{"name":"i","image":"i@{i}"}}]}},
               "status":{{"containerStatuses":[{{"name":"a","image":"nginx:1.25","imageID":"docker.io/library/nginx@{a}"}}],
                          "initContainerStatuses":[{{"name":"i","imageID":"docker-pullable://i@{i}"}}]}}}},
              {{"spec":{{"containers":[{{"image":"g@{g}"}}]}},"status":{{"containerStatuses":[{{"image":"g@{g}","imageID":""}}]}}}}
            ],"metadata":{{"resourceVersion":""}}}}"#,
            a = d(1),
            i = d(2),
            g = d(3)
        );
        let r = read(format!("\n  {json}")).unwrap();
        assert_eq!(r.digests.len(), 3);
        // nginx:1.25 twice and one empty imageID.
        assert_eq!((r.references, r.without_digest), (5, 3));
        // One Pod, and an array of pods.
        let pod = format!(
            r#"{{"kind":"Pod","status":{{"containerStatuses":[{{"imageID":"x@{}"}}]}}}}"#,
            d(4)
        );
        assert_eq!(read(&pod).unwrap().digests.len(), 1);
        assert_eq!(read(format!("[{pod},{pod}]")).unwrap().references, 2);
        // Broken JSON is an error naming the file and where.
        let e = read(r#"{"items":[{"spec":"#).unwrap_err().to_string();
        assert!(e.contains("failed to parse") && e.contains("line 1"), "{e}");
        let e = read(r#"{"items":{}}"#).unwrap_err().to_string();
        assert!(e.contains("a list of Pods"), "{e}");
    }
}
