//! In-memory aggregates of one ingest run and their Arrow form.
//!
//! Pulls are aggregated per (day, digest, client, repo, ua_class, source), failed pulls per
//! (day, digest, client, ua_class, source, status, error code) and manifest requests per (day,
//! repo, reference, client, ua, source), with counts, bytes and first/last timestamps, so
//! memory grows with distinct keys, not with lines — except for two things that must be seen
//! whole to be counted once: the times of ranged GETs (206; 8 bytes each) and the event ids of
//! notified pulls (16 bytes each), kept per key until the run's tables are written.
//!
//! Counting (`docs/ingest.md`, "What counts"): `requests` is every pull event as logged;
//! `pulls` counts a whole GET or redirect once, the ranged GETs of a key within
//! [`RANGED_PULL_WINDOW_US`] of the first of them once, and a notification event `id` once
//! however often it was delivered. Both are exact within one ingest run, whatever the order of
//! lines and blocks; across runs they add up.
//!
//! Strings are interned per partial aggregate; merging remaps indices. Output rows are
//! sorted, so the same input gives byte-identical Parquet whatever the thread scheduling.

use std::collections::{HashMap, HashSet};

use arrow::array::ArrayRef;
use arrow::record_batch::RecordBatch;

use super::columns;
use super::event::RANGED_PULL_WINDOW_US;
use crate::model::{schema, Digest, LogFormat, UaClass};

/// The maps of the aggregates: ahash, randomly keyed per process (SipHash cost a fifth of the
/// time per pull; a random key keeps crafted user agents or keys from colliding).
type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// String interner (index `u32::MAX` = none).
#[derive(Debug, Default, Clone)]
pub struct Interner {
    map: Map<Box<str>, u32>,
    vals: Vec<Box<str>>,
}

/// "No value" index.
pub const NONE: u32 = u32::MAX;

impl Interner {
    /// Index of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.vals.len() as u32;
        self.vals.push(s.into());
        self.map.insert(s.into(), i);
        i
    }

    /// Index of an optional string.
    pub fn intern_opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.intern(s))
    }

    /// The string at `i`.
    pub fn get(&self, i: u32) -> Option<&str> {
        if i == NONE {
            None
        } else {
            Some(&self.vals[i as usize])
        }
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }
}

/// Count, bytes, first and last timestamp (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agg {
    /// Requests (for pulls: whole GETs and redirects only; ranged GETs and notified pulls are
    /// counted from [`PullExtra`] when the rows are written).
    pub n: i64,
    /// Bytes sent.
    pub bytes: i64,
    /// Earliest.
    pub first: i64,
    /// Latest.
    pub last: i64,
}

impl Agg {
    fn one(ts: i64, bytes: i64) -> Agg {
        Agg {
            n: 1,
            bytes,
            first: ts,
            last: ts,
        }
    }
    fn zero(ts: i64) -> Agg {
        Agg {
            n: 0,
            bytes: 0,
            first: ts,
            last: ts,
        }
    }
    fn add(&mut self, o: &Agg) {
        self.n += o.n;
        self.bytes += o.bytes;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }
}

/// Key of a pull aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PullKey {
    /// Days since 1970-01-01 (UTC).
    pub day: i32,
    /// Digest.
    pub digest: Digest,
    /// Client index (`clients`).
    pub client: u32,
    /// Repository index (`repos`).
    pub repo: u32,
    /// User-agent class.
    pub class: UaClass,
    /// Input format.
    pub source: LogFormat,
}

/// How a pull event is counted ([`Aggregates::add_pull`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind {
    /// A whole GET or a redirect: one pull.
    Whole,
    /// A ranged GET (206): one pull with the key's other ranged GETs within
    /// [`RANGED_PULL_WINDOW_US`] of the first.
    Ranged,
    /// A notified pull with the hash of its event id: one pull per distinct id.
    Notified(u128),
}

/// The ranged GETs and notification ids of a pull key, counted when the rows are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullExtra {
    /// Times of ranged GETs (µs), unsorted.
    pub ranged: Vec<i64>,
    /// Hashes of the notification event ids.
    pub ids: HashSet<u128>,
    /// Notification deliveries (with retries).
    pub deliveries: i64,
}

impl PullExtra {
    fn merge(&mut self, o: PullExtra) {
        self.ranged.extend(o.ranged);
        self.ids.extend(o.ids);
        self.deliveries += o.deliveries;
    }

    /// The starts of the runs of ranged GETs: a ranged GET more than the window after the
    /// start of the current run starts the next one. A run is one pull, at its start.
    fn run_starts(&self) -> Vec<i64> {
        let mut ts = self.ranged.clone();
        ts.sort_unstable();
        let mut starts: Vec<i64> = Vec::new();
        for t in ts {
            if starts.last().is_none_or(|&s| t - s > RANGED_PULL_WINDOW_US) {
                starts.push(t);
            }
        }
        starts
    }

    /// Requests as logged.
    fn requests(&self) -> i64 {
        self.ranged.len() as i64 + self.deliveries
    }
}

/// The counted pulls, the requests, and the first and last pull of a pull key. A ranged
/// GET counts at the start of its run: the time of the pull, not of its last range.
fn pull_counts(a: &Agg, extra: Option<&PullExtra>) -> (i64, i64, i64, i64) {
    let Some(x) = extra else {
        return (a.n, a.n, a.first, a.last);
    };
    let starts = x.run_starts();
    let (first, last) = match (starts.first(), starts.last()) {
        (Some(&f), Some(&l)) => (a.first.min(f), a.last.max(l)),
        _ => (a.first, a.last),
    };
    let pulls = a.n + starts.len() as i64 + x.ids.len() as i64;
    (pulls, a.n + x.requests(), first, last)
}

/// Key of a failed-pull aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FailedKey {
    /// Days since 1970-01-01 (UTC).
    pub day: i32,
    /// Digest.
    pub digest: Digest,
    /// Client index (`clients`).
    pub client: u32,
    /// User-agent class.
    pub class: UaClass,
    /// Input format.
    pub source: LogFormat,
    /// HTTP status.
    pub status: u16,
    /// Error-code index (`refs`).
    pub error_code: u32,
}

/// Key of a manifest-request aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestKey {
    /// Days since 1970-01-01 (UTC).
    pub day: i32,
    /// Repository index (`repos`).
    pub repo: u32,
    /// Reference index (`refs`).
    pub reference: u32,
    /// Client index (`clients`).
    pub client: u32,
    /// User-agent index (`uas`).
    pub ua: u32,
    /// User-agent class.
    pub class: UaClass,
    /// Input format.
    pub source: LogFormat,
}

/// Aggregates of some lines.
#[derive(Debug, Default, Clone)]
pub struct Aggregates {
    /// Normalised client addresses.
    pub clients: Interner,
    /// Repository names.
    pub repos: Interner,
    /// Manifest references.
    pub refs: Interner,
    /// User agents of manifest requests.
    pub uas: Interner,
    /// Pulls.
    pub pulls: Map<PullKey, Agg>,
    /// Ranged GETs and notification ids of pull keys that have them.
    pub pull_extra: Map<PullKey, PullExtra>,
    /// Failed pulls.
    pub failed: Map<FailedKey, Agg>,
    /// Manifest requests.
    pub manifests: Map<ManifestKey, Agg>,
}

impl Aggregates {
    /// Adds one pull event, counted as `kind` says.
    #[allow(clippy::too_many_arguments)]
    pub fn add_pull(
        &mut self,
        day: i32,
        digest: Digest,
        client: Option<&str>,
        repo: Option<&str>,
        class: UaClass,
        source: LogFormat,
        ts: i64,
        bytes: i64,
        kind: PullKind,
    ) {
        let key = PullKey {
            day,
            digest,
            client: self.clients.intern_opt(client),
            repo: self.repos.intern_opt(repo),
            class,
            source,
        };
        let a = match kind {
            PullKind::Whole => Agg::one(ts, bytes),
            PullKind::Notified(_) => Agg {
                bytes,
                ..Agg::zero(ts)
            },
            // First and last come from the runs' starts ([`pull_counts`]).
            PullKind::Ranged => Agg {
                n: 0,
                bytes,
                first: i64::MAX,
                last: i64::MIN,
            },
        };
        self.pulls.entry(key).and_modify(|x| x.add(&a)).or_insert(a);
        match kind {
            PullKind::Whole => {}
            PullKind::Ranged => self.pull_extra.entry(key).or_default().ranged.push(ts),
            PullKind::Notified(id) => {
                let x = self.pull_extra.entry(key).or_default();
                x.ids.insert(id);
                x.deliveries += 1;
            }
        }
    }

    /// Adds one failed pull.
    #[allow(clippy::too_many_arguments)]
    pub fn add_failed(
        &mut self,
        day: i32,
        digest: Digest,
        client: Option<&str>,
        class: UaClass,
        source: LogFormat,
        status: u16,
        error_code: Option<&str>,
        ts: i64,
    ) {
        let key = FailedKey {
            day,
            digest,
            client: self.clients.intern_opt(client),
            class,
            source,
            status,
            error_code: self.refs.intern_opt(error_code),
        };
        let a = Agg::one(ts, 0);
        self.failed
            .entry(key)
            .and_modify(|x| x.add(&a))
            .or_insert(a);
    }

    /// Adds one manifest request.
    #[allow(clippy::too_many_arguments)]
    pub fn add_manifest(
        &mut self,
        day: i32,
        repo: &str,
        reference: &str,
        client: Option<&str>,
        ua: Option<&str>,
        class: UaClass,
        source: LogFormat,
        ts: i64,
    ) {
        let key = ManifestKey {
            day,
            repo: self.repos.intern(repo),
            reference: self.refs.intern(reference),
            client: self.clients.intern_opt(client),
            ua: self.uas.intern_opt(ua),
            class,
            source,
        };
        let a = Agg::one(ts, 0);
        self.manifests
            .entry(key)
            .and_modify(|x| x.add(&a))
            .or_insert(a);
    }

    /// Pull, failed-pull and manifest-request keys.
    fn rows(&self) -> usize {
        self.pulls.len() + self.failed.len() + self.manifests.len()
    }

    /// Merges `other` into `self`.
    pub fn merge(&mut self, mut other: Aggregates) {
        // The smaller into the larger: merging is commutative.
        if other.rows() > self.rows() {
            std::mem::swap(self, &mut other);
        }
        if other.rows() == 0 && other.pull_extra.is_empty() {
            return;
        }
        let remap = |from: &Interner, to: &mut Interner| -> Vec<u32> {
            from.vals.iter().map(|s| to.intern(s)).collect()
        };
        let c = remap(&other.clients, &mut self.clients);
        let r = remap(&other.repos, &mut self.repos);
        let f = remap(&other.refs, &mut self.refs);
        let u = remap(&other.uas, &mut self.uas);
        let m = |v: &[u32], i: u32| if i == NONE { NONE } else { v[i as usize] };
        let pull_key = |k: &mut PullKey| {
            k.client = m(&c, k.client);
            k.repo = m(&r, k.repo);
        };
        merge_map(&mut self.pulls, other.pulls, pull_key, |x, a| x.add(&a));
        merge_map(&mut self.pull_extra, other.pull_extra, pull_key, |x, o| {
            x.merge(o)
        });
        let failed_key = |k: &mut FailedKey| {
            k.client = m(&c, k.client);
            k.error_code = m(&f, k.error_code);
        };
        merge_map(&mut self.failed, other.failed, failed_key, |x, a| x.add(&a));
        let manifest_key = |k: &mut ManifestKey| {
            k.repo = m(&r, k.repo);
            k.reference = m(&f, k.reference);
            k.client = m(&c, k.client);
            k.ua = m(&u, k.ua);
        };
        merge_map(
            &mut self.manifests,
            other.manifests,
            manifest_key,
            |x, a| x.add(&a),
        );
    }

    /// Days that have at least one row.
    pub fn days(&self) -> Vec<i32> {
        let mut d: Vec<i32> = self
            .pulls
            .keys()
            .map(|k| k.day)
            .chain(self.manifests.keys().map(|k| k.day))
            .chain(self.failed.keys().map(|k| k.day))
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    }
}

/// Moves every entry of `from` into `into`, its key's interned ids renumbered by `key`,
/// combined by `add` with an entry already there.
fn merge_map<K: std::hash::Hash + Eq, V>(
    into: &mut Map<K, V>,
    from: Map<K, V>,
    key: impl Fn(&mut K),
    add: impl Fn(&mut V, V),
) {
    for (mut k, v) in from {
        key(&mut k);
        match into.entry(k) {
            std::collections::hash_map::Entry::Occupied(mut e) => add(e.get_mut(), v),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
}

/// A quarantined line (moved to [`super::rejects`], which caps and spools them).
pub use super::rejects::RejectRow;

/// Dense ranks of interned names in their sort order, so that rows sort by a few integers
/// instead of by comparing strings (ingest sorts every pull row). Equal names share a rank and
/// a missing name (`None`, or an index out of range such as [`NONE`]) ranks 0, before every
/// name, so comparing ranks orders rows exactly as comparing the `Option<&str>` names did.
struct Ranks(Vec<u32>);

impl Ranks {
    /// The ranks of indices `0..n`, named by `name`.
    fn of<'a>(n: usize, name: impl Fn(u32) -> Option<&'a str>) -> Ranks {
        let n = u32::try_from(n).expect("interned values are indexed by u32");
        let mut order: Vec<(Option<&str>, u32)> = (0..n).map(|i| (name(i), i)).collect();
        order.sort_unstable();
        let mut ranks = vec![0; order.len()];
        let (mut rank, mut prev) = (0u32, None);
        for (value, i) in order {
            if value.is_some() && value != prev {
                rank += 1;
                prev = value;
            }
            ranks[i as usize] = if value.is_some() { rank } else { 0 };
        }
        Ranks(ranks)
    }

    /// The rank of index `i`.
    fn of_index(&self, i: u32) -> u32 {
        self.0.get(i as usize).copied().unwrap_or(0)
    }
}

/// The stored names of an aggregate's clients (keyed hash or raw address, each rendered once)
/// and the sort ranks of every interned name, computed once for all the days written: each
/// day used to render every client and sort every name again.
pub struct Names<'a> {
    agg: &'a Aggregates,
    clients: Vec<Option<String>>,
    client: Ranks,
    repo: Ranks,
    refs: Ranks,
    ua: Ranks,
}

impl<'a> Names<'a> {
    /// The names of `agg`, clients rendered by `render` (in parallel).
    pub fn new(agg: &'a Aggregates, render: &(dyn Fn(&str) -> String + Sync)) -> Names<'a> {
        use rayon::prelude::*;
        let clients: Vec<Option<String>> = (0..agg.clients.len() as u32)
            .into_par_iter()
            .map(|i| agg.clients.get(i).map(render))
            .collect();
        let ((client, repo), (refs, ua)) = rayon::join(
            || {
                rayon::join(
                    || Ranks::of(clients.len(), |i| clients[i as usize].as_deref()),
                    || Ranks::of(agg.repos.len(), |i| agg.repos.get(i)),
                )
            },
            || {
                rayon::join(
                    || Ranks::of(agg.refs.len(), |i| agg.refs.get(i)),
                    || Ranks::of(agg.uas.len(), |i| agg.uas.get(i)),
                )
            },
        );
        Names {
            agg,
            clients,
            client,
            repo,
            refs,
            ua,
        }
    }

    /// The stored name of client `i` ([`NONE`] is past the end: `None`).
    fn client(&self, i: u32) -> Option<&str> {
        self.clients.get(i as usize).and_then(Option::as_deref)
    }
}

/// Pull rows (one day's), sorted by digest, client, repo, class, source, as a record batch.
/// Rows are distinct keys whose names are distinct by rank (a rendered client is a keyed hash
/// of its address), so an unstable sort gives one order.
pub fn pulls_batch_of(names: &Names<'_>, mut rows: Vec<(&PullKey, &Agg)>) -> RecordBatch {
    let agg = names.agg;
    rows.sort_unstable_by_key(|(k, _)| {
        (
            k.digest.sort_key(),
            names.client.of_index(k.client),
            names.repo.of_index(k.repo),
            k.class,
            k.source,
        )
    });
    let counts: Vec<(i64, i64, i64, i64)> = rows
        .iter()
        .map(|(k, a)| pull_counts(a, agg.pull_extra.get(k)))
        .collect();
    let cols: Vec<ArrayRef> = vec![
        columns::utf8_values(rows.iter().map(|(k, _)| k.digest.text())),
        columns::utf8(rows.iter().map(|(k, _)| names.client(k.client))),
        columns::utf8(rows.iter().map(|(k, _)| agg.repos.get(k.repo))),
        columns::utf8_values(rows.iter().map(|(k, _)| k.class.as_str())),
        columns::utf8_values(rows.iter().map(|(k, _)| k.source.as_str())),
        columns::int64_values(counts.iter().map(|c| c.0)),
        columns::int64_values(rows.iter().map(|(_, a)| a.bytes)),
        columns::timestamp_utc_values(counts.iter().map(|c| c.2)),
        columns::timestamp_utc_values(counts.iter().map(|c| c.3)),
        columns::int64(counts.iter().map(|c| Some(c.1))),
    ];
    RecordBatch::try_new(schema::pulls(), cols).expect("columns match the pulls schema")
}

/// Failed-pull rows (one day's), sorted by digest, client, class, source, status, error
/// code, as a record batch.
pub fn failed_batch_of(names: &Names<'_>, mut rows: Vec<(&FailedKey, &Agg)>) -> RecordBatch {
    let agg = names.agg;
    rows.sort_unstable_by_key(|(k, _)| {
        (
            k.digest.sort_key(),
            names.client.of_index(k.client),
            k.class,
            k.source,
            k.status,
            names.refs.of_index(k.error_code),
        )
    });
    let cols: Vec<ArrayRef> = vec![
        columns::utf8_values(rows.iter().map(|(k, _)| k.digest.text())),
        columns::utf8(rows.iter().map(|(k, _)| names.client(k.client))),
        columns::utf8_values(rows.iter().map(|(k, _)| k.class.as_str())),
        columns::utf8_values(rows.iter().map(|(k, _)| k.source.as_str())),
        columns::int64_values(rows.iter().map(|(k, _)| i64::from(k.status))),
        columns::utf8(rows.iter().map(|(k, _)| agg.refs.get(k.error_code))),
        columns::int64_values(rows.iter().map(|(_, a)| a.n)),
        columns::timestamp_utc_values(rows.iter().map(|(_, a)| a.first)),
        columns::timestamp_utc_values(rows.iter().map(|(_, a)| a.last)),
    ];
    RecordBatch::try_new(schema::failed_pulls(), cols)
        .expect("columns match the failed-pulls schema")
}

/// Manifest-request rows (one day's), sorted by repo, reference, client, user agent, class,
/// source, as a record batch.
pub fn manifests_batch_of(names: &Names<'_>, mut rows: Vec<(&ManifestKey, &Agg)>) -> RecordBatch {
    let agg = names.agg;
    rows.sort_unstable_by_key(|(k, _)| {
        (
            names.repo.of_index(k.repo),
            names.refs.of_index(k.reference),
            names.client.of_index(k.client),
            names.ua.of_index(k.ua),
            k.class,
            k.source,
        )
    });
    let cols: Vec<ArrayRef> = vec![
        columns::utf8(rows.iter().map(|(k, _)| agg.repos.get(k.repo))),
        columns::utf8(rows.iter().map(|(k, _)| agg.refs.get(k.reference))),
        columns::utf8(rows.iter().map(|(k, _)| names.client(k.client))),
        columns::utf8(rows.iter().map(|(k, _)| agg.uas.get(k.ua))),
        columns::utf8_values(rows.iter().map(|(k, _)| k.class.as_str())),
        columns::utf8_values(rows.iter().map(|(k, _)| k.source.as_str())),
        columns::int64_values(rows.iter().map(|(_, a)| a.n)),
        columns::timestamp_utc_values(rows.iter().map(|(_, a)| a.first)),
        columns::timestamp_utc_values(rows.iter().map(|(_, a)| a.last)),
    ];
    RecordBatch::try_new(schema::manifest_pulls(), cols).expect("columns match the manifest schema")
}

/// `YYYY-MM-DD` of a day number.
/// Never panics: a day chrono cannot represent is written as its number.
pub fn day_string(day: i32) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .expect("epoch is a date")
        .checked_add_signed(chrono::Duration::days(i64::from(day)))
        .map_or_else(
            || format!("day {day}"),
            |d| d.format("%Y-%m-%d").to_string(),
        )
}

/// Day number of a µs timestamp.
pub fn day_of(ts_us: i64) -> i32 {
    ts_us.div_euclid(86_400_000_000) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows sorted by ranks come out in the order sorting by the names gave, ties included.
    #[test]
    fn ranks_order_like_the_names_they_stand_for() {
        let names: Vec<Option<&str>> = vec![
            Some("b"),
            None,
            Some("a"),
            Some("b"),
            Some(""),
            Some("ab"),
            None,
        ];
        let name = |i: u32| names.get(i as usize).copied().flatten();
        let ranks = Ranks::of(names.len(), name);
        // Out of range (NONE) is a missing name.
        assert_eq!(ranks.of_index(NONE), 0);
        assert_eq!(ranks.of_index(1), 0);
        assert_eq!(
            ranks.of_index(0),
            ranks.of_index(3),
            "equal names share a rank"
        );
        let mut idx: Vec<u32> = (0..names.len() as u32).chain([NONE]).collect();
        let mut by_name = idx.clone();
        by_name.sort_by_key(|&i| name(i));
        idx.sort_by_key(|&i| ranks.of_index(i));
        assert_eq!(idx, by_name);
    }

    #[test]
    fn digest_text_is_its_display() {
        let d = Digest([0xab; 32]);
        assert_eq!(d.text().as_str(), d.to_string());
        assert_eq!(d.to_string(), format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(d.hex(), "ab".repeat(32));
    }
}
