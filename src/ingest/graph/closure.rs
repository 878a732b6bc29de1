//! From manifests to blobs: the closure of each manifest (every blob reachable from it, itself
//! included, through index children) and, per blob, the manifests, repositories and tags that
//! reach it.
//!
//! Invariants: a blob's role is the strongest with which anything reaches it (`manifest` <
//! `config` < `layer` in [`Role`]'s order); a cycle of malformed indexes stops at the first
//! manifest met twice; a manifest the store lacks has a closure of itself only. Pure: no I/O.
//!
//! Must not: read or write anything, or drop a blob the store holds (every stored blob gets a
//! row, referenced or not).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::cache::Cached;
use super::keys::Tag;
use super::GraphMetrics;
use crate::ingest::manifest::Role;
use crate::model::Digest;

/// A manifest's closure: (blob, role), sorted by blob.
pub(super) type Closure = Arc<Vec<(Digest, Role)>>;

/// The closure of every manifest in `known`.
pub(super) fn closures(
    known: &BTreeSet<Digest>,
    cache: &HashMap<Digest, Cached>,
) -> HashMap<Digest, Closure> {
    let mut memo = HashMap::new();
    let mut visiting = HashSet::new();
    for d in known {
        closure(*d, cache, &mut memo, &mut visiting);
    }
    memo
}

fn closure(
    d: Digest,
    cache: &HashMap<Digest, Cached>,
    memo: &mut HashMap<Digest, Closure>,
    visiting: &mut HashSet<Digest>,
) -> Closure {
    if let Some(c) = memo.get(&d) {
        return Arc::clone(c);
    }
    if !visiting.insert(d) {
        return Arc::new(Vec::new()); // a cycle (malformed indexes): stop here
    }
    let mut set: BTreeMap<Digest, Role> = BTreeMap::new();
    set.insert(d, Role::Manifest);
    if let Some(c) = cache.get(&d) {
        for r in &c.refs {
            if r.role == Role::Manifest {
                for (b, role) in closure(r.digest, cache, memo, visiting).iter() {
                    let e = set.entry(*b).or_insert(*role);
                    *e = (*e).min(*role);
                }
            } else {
                let e = set.entry(r.digest).or_insert(r.role);
                *e = (*e).min(r.role);
            }
        }
    }
    visiting.remove(&d);
    let v = Arc::new(set.into_iter().collect::<Vec<_>>());
    memo.insert(d, Arc::clone(&v));
    v
}

/// Media types by digest: each manifest's own, else the first descriptor's that names it.
pub(super) fn media_types(
    known: &BTreeSet<Digest>,
    cache: &HashMap<Digest, Cached>,
) -> HashMap<Digest, String> {
    let mut media: HashMap<Digest, String> = HashMap::new();
    for d in known {
        if let Some(c) = cache.get(d) {
            if let Some(mt) = &c.media_type {
                media.insert(*d, mt.clone());
            }
            for r in &c.refs {
                if let Some(mt) = &r.media_type {
                    media.entry(r.digest).or_insert_with(|| mt.clone());
                }
            }
        }
    }
    media
}

/// Per-blob accumulator: the strongest role anything reaches the blob with (`None`: nothing
/// does), whether the store holds it and its size there, and as ids into [`Refs::names`] the
/// manifests (other than itself), repositories (through revisions or tags) and `repo:tag`s
/// that reach it.
#[derive(Debug, Default)]
pub(super) struct Acc {
    pub role: Option<Role>,
    pub in_storage: bool,
    pub size: Option<i64>,
    pub manifests: HashSet<u32>,
    pub repos: HashSet<u32>,
    pub tags: HashSet<u32>,
}

/// Who reaches each blob.
#[derive(Debug, Default)]
pub(super) struct Refs {
    /// Interned repository names, `repo:tag` and manifest digests.
    pub names: Vec<String>,
    /// Per blob (stored or referenced).
    pub acc: HashMap<Digest, Acc>,
}

impl Refs {
    fn intern(&mut self, ids: &mut HashMap<String, u32>, s: String) -> u32 {
        if let Some(&i) = ids.get(&s) {
            return i;
        }
        let i = self.names.len() as u32;
        ids.insert(s.clone(), i);
        self.names.push(s);
        i
    }
}

/// For every stored or referenced blob: the manifests, repositories (through revisions and
/// tags) and tags that reach it. Counts repositories in `m`.
pub(super) fn per_blob(
    blobs: &HashMap<Digest, Option<i64>>,
    known: &BTreeSet<Digest>,
    closures: &HashMap<Digest, Closure>,
    revisions: &BTreeSet<(String, Digest)>,
    tags: &[Tag],
    m: &mut GraphMetrics,
) -> Refs {
    let mut refs = Refs::default();
    let mut ids: HashMap<String, u32> = HashMap::new();
    for (d, size) in blobs {
        let a = refs.acc.entry(*d).or_default();
        a.in_storage = true;
        a.size = *size;
    }
    for d in known {
        let mid = refs.intern(&mut ids, d.to_string());
        for (b, role) in closures[d].iter() {
            let a = refs.acc.entry(*b).or_default();
            a.role = Some(a.role.map_or(*role, |r| r.min(*role)));
            if b != d {
                a.manifests.insert(mid);
            }
        }
    }
    let mut repos: BTreeSet<&str> = BTreeSet::new();
    for (repo, d) in revisions {
        repos.insert(repo);
        let rid = refs.intern(&mut ids, repo.clone());
        for (b, _) in closures[d].iter() {
            refs.acc.entry(*b).or_default().repos.insert(rid);
        }
    }
    for (repo, tag, d, _) in tags {
        repos.insert(repo);
        let rid = refs.intern(&mut ids, repo.clone());
        let tid = refs.intern(&mut ids, format!("{repo}:{tag}"));
        for (b, _) in closures[d].iter() {
            let a = refs.acc.entry(*b).or_default();
            a.tags.insert(tid);
            a.repos.insert(rid);
        }
    }
    m.repositories = repos.len() as u64;
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::manifest::{Kind, Reference};

    fn digest(n: u8) -> Digest {
        Digest::from_hex(format!("{n:02x}").repeat(32).as_bytes()).unwrap()
    }

    fn manifest(kind: Kind, refs: &[(u8, Role)]) -> Cached {
        Cached {
            media_type: None,
            kind,
            size: 1,
            refs: refs
                .iter()
                .map(|&(n, role)| Reference {
                    digest: digest(n),
                    role,
                    media_type: None,
                    size: None,
                    platform: None,
                })
                .collect(),
        }
    }

    #[test]
    fn closures_follow_indexes_keep_the_strongest_role_and_stop_at_cycles() {
        // 1 = index of images 2 and 3; both use config 10 and layer 11; 3 also uses 10 as a
        // layer (the stronger role wins); 4 and 5 are indexes naming each other.
        let cache: HashMap<Digest, Cached> = [
            (
                1,
                manifest(Kind::Index, &[(2, Role::Manifest), (3, Role::Manifest)]),
            ),
            (
                2,
                manifest(Kind::Image, &[(10, Role::Config), (11, Role::Layer)]),
            ),
            (
                3,
                manifest(Kind::Image, &[(10, Role::Layer), (11, Role::Layer)]),
            ),
            (4, manifest(Kind::Index, &[(5, Role::Manifest)])),
            (5, manifest(Kind::Index, &[(4, Role::Manifest)])),
        ]
        .into_iter()
        .map(|(n, c)| (digest(n), c))
        .collect();
        let known: BTreeSet<Digest> = [1, 2, 3, 4, 5, 6].into_iter().map(digest).collect();
        let c = closures(&known, &cache);
        let of = |n: u8| -> Vec<(Digest, Role)> { c[&digest(n)].to_vec() };
        assert_eq!(
            of(1),
            vec![
                (digest(1), Role::Manifest),
                (digest(2), Role::Manifest),
                (digest(3), Role::Manifest),
                (digest(10), Role::Config),
                (digest(11), Role::Layer),
            ]
        );
        assert_eq!(of(3)[1], (digest(10), Role::Layer));
        // A manifest the store lacks reaches only itself.
        assert_eq!(of(6), vec![(digest(6), Role::Manifest)]);
        // The cycle ends: each index reaches itself and the other.
        assert_eq!(of(4).len(), 2);

        let blobs: HashMap<Digest, Option<i64>> = [(digest(11), Some(9)), (digest(12), None)]
            .into_iter()
            .collect();
        let revisions: BTreeSet<(String, Digest)> = [("team/app".to_owned(), digest(1))].into();
        let tags = vec![(
            "team/app".to_owned(),
            "v1".to_owned(),
            digest(2),
            "etag:x".to_owned(),
        )];
        let mut m = GraphMetrics::default();
        let refs = per_blob(&blobs, &known, &c, &revisions, &tags, &mut m);
        assert_eq!(m.repositories, 1);
        let layer = &refs.acc[&digest(11)];
        assert!(layer.in_storage);
        assert_eq!((layer.role, layer.size), (Some(Role::Layer), Some(9)));
        // Reached from manifests 1, 2 and 3, one repository, one tag.
        assert_eq!(
            (layer.manifests.len(), layer.repos.len(), layer.tags.len()),
            (3, 1, 1)
        );
        let stored_only = &refs.acc[&digest(12)];
        assert!(stored_only.role.is_none() && stored_only.repos.is_empty());
    }
}
