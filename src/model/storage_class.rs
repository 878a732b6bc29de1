//! [`StorageClass`]: every S3 storage class, and [`StorageClass::Unknown`] for a name
//! blobtier does not know.
//!
//! Invariants: the list of names is written once (the `classes!` table below); `MANAGED`
//! are the classes blobtier prices, plans and moves objects between, and nothing outside it
//! (in particular no `Unknown`) is priced or moved: `cost` refuses it with a typed error,
//! config refuses it as a tier's class, the plan keeps such objects where they are.
//! This module does no I/O.

use std::fmt;
use std::str::FromStr;

use super::UnknownName;

/// Writes the enum, its `KNOWN` list and both directions of the name table from one table.
macro_rules! classes {
    ($( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+) => {
        /// An S3 storage class (`x-amz-storage-class`, the S3 Inventory `StorageClass`
        /// field), as the AWS SDK's `ObjectStorageClass` lists them, or
        /// [`StorageClass::Unknown`].
        ///
        /// Not `Copy`: `Unknown` keeps the name exactly as found, so a row read from Parquet
        /// is written back byte for byte and reports show what the inventory said. Every
        /// other variant has no payload, so a clone is a copy of the tag (no allocation);
        /// decisions clone them freely.
        ///
        /// Two ways in: `FromStr` for config (a known name or an [`UnknownName`] error) and
        /// `From<&str>` / `From<String>` for data rows (never fails; a name it does not know
        /// becomes `Unknown`). Names are matched exactly as S3 spells them.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub enum StorageClass {
            $( $(#[$vmeta])* $variant, )+
            /// A name blobtier does not know (kept as found). Nothing prices or moves it.
            Unknown(String),
        }

        impl StorageClass {
            /// Every class blobtier knows, in the order of the AWS SDK's documentation.
            pub const KNOWN: [StorageClass; [$($text),+].len()] =
                [$(StorageClass::$variant),+];

            /// The S3 API name; for `Unknown`, the name as found.
            pub fn as_str(&self) -> &str {
                match self {
                    $( StorageClass::$variant => $text, )+
                    StorageClass::Unknown(name) => name,
                }
            }

            /// The S3 API name of a known class as a `'static` string; `None` for `Unknown`.
            pub fn known_name(&self) -> Option<&'static str> {
                match self {
                    $( StorageClass::$variant => Some($text), )+
                    StorageClass::Unknown(_) => None,
                }
            }

            /// The known class named exactly `name`, if there is one.
            fn known(name: &str) -> Option<StorageClass> {
                match name {
                    $( $text => Some(StorageClass::$variant), )+
                    _ => None,
                }
            }
        }

        /// `as_str` of every [`StorageClass::KNOWN`], in the same order.
        const KNOWN_NAMES: [&str; StorageClass::KNOWN.len()] = [$($text),+];
    };
}

classes! {
    /// `STANDARD`, S3's default (also what an object without a class is in).
    #[default]
    Standard = "STANDARD",
    /// `REDUCED_REDUNDANCY` (deprecated; not priced).
    ReducedRedundancy = "REDUCED_REDUNDANCY",
    /// `STANDARD_IA`.
    StandardIa = "STANDARD_IA",
    /// `ONEZONE_IA`.
    OnezoneIa = "ONEZONE_IA",
    /// `INTELLIGENT_TIERING`.
    IntelligentTiering = "INTELLIGENT_TIERING",
    /// `GLACIER_IR` (Glacier Instant Retrieval).
    GlacierIr = "GLACIER_IR",
    /// `GLACIER` (Glacier Flexible Retrieval): needs a restore before it can be read.
    Glacier = "GLACIER",
    /// `DEEP_ARCHIVE` (Glacier Deep Archive): needs a restore before it can be read.
    DeepArchive = "DEEP_ARCHIVE",
    /// `OUTPOSTS` (S3 on Outposts; not priced).
    Outposts = "OUTPOSTS",
    /// `EXPRESS_ONEZONE` (directory buckets; not priced).
    ExpressOnezone = "EXPRESS_ONEZONE",
    /// `SNOW` (Snow Family devices; not priced).
    Snow = "SNOW",
    /// `FSX_ONTAP` (access points for FSx; not priced).
    FsxOntap = "FSX_ONTAP",
    /// `FSX_OPENZFS` (access points for FSx; not priced).
    FsxOpenzfs = "FSX_OPENZFS",
    /// `AWS_BACKUP_WARM` (not priced).
    AwsBackupWarm = "AWS_BACKUP_WARM",
    /// `AWS_BACKUP_LOW_COST_WARM` (not priced).
    AwsBackupLowCostWarm = "AWS_BACKUP_LOW_COST_WARM",
}

impl StorageClass {
    /// The classes blobtier prices (the price table has exactly these), plans for and moves
    /// objects between (the targets of a copy, and the only classes a tier rule may name),
    /// from the most to the least expensive to store.
    pub const MANAGED: [StorageClass; 7] = [
        StorageClass::Standard,
        StorageClass::IntelligentTiering,
        StorageClass::StandardIa,
        StorageClass::OnezoneIa,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    /// The classes an S3 lifecycle rule can transition objects into (`Transition`'s
    /// `StorageClass`): every managed class but STANDARD, the first.
    pub const LIFECYCLE_TARGETS: &'static [StorageClass] = {
        let managed: &[StorageClass] = &StorageClass::MANAGED;
        managed.split_at(1).1
    };

    /// Whether this is one of [`StorageClass::MANAGED`].
    pub fn is_managed(&self) -> bool {
        self.managed_rank().is_some()
    }

    /// The position in [`StorageClass::MANAGED`] (0 = STANDARD … 6 = DEEP_ARCHIVE), or `None`
    /// for a class blobtier does not manage.
    pub fn managed_rank(&self) -> Option<usize> {
        use StorageClass::*;
        Some(match self {
            Standard => 0,
            IntelligentTiering => 1,
            StandardIa => 2,
            OnezoneIa => 3,
            GlacierIr => 4,
            Glacier => 5,
            DeepArchive => 6,
            _ => return None,
        })
    }

    /// Whether objects must be restored (`RestoreObject`) before a GET or a copy.
    pub fn needs_restore(&self) -> bool {
        matches!(self, StorageClass::Glacier | StorageClass::DeepArchive)
    }

    /// Whether an S3 lifecycle rule can transition objects from `self` to `to` (the
    /// "waterfall" of the S3 User Guide), between managed classes. Nothing transitions into
    /// STANDARD, nothing leaves DEEP_ARCHIVE, a class never transitions to itself, and
    /// nothing outside [`StorageClass::MANAGED`] is moved.
    pub fn can_lifecycle_to(&self, to: &StorageClass) -> bool {
        use StorageClass::*;
        if !self.is_managed() || !to.is_managed() {
            return false;
        }
        match (self, to) {
            (a, b) if a == b => false,
            (_, Standard) | (DeepArchive, _) => false,
            (_, DeepArchive) => true,
            (Standard, _) => true,
            (StandardIa, IntelligentTiering | OnezoneIa | GlacierIr | Glacier) => true,
            (IntelligentTiering, OnezoneIa | GlacierIr | Glacier) => true,
            (OnezoneIa, Glacier) => true,
            (GlacierIr, Glacier) => true,
            _ => false,
        }
    }

    /// Whether this is [`StorageClass::Unknown`].
    pub fn is_unknown(&self) -> bool {
        matches!(self, StorageClass::Unknown(_))
    }

    /// Parses a managed class name, for config keys that name a target: an [`UnknownName`]
    /// listing [`StorageClass::MANAGED`] for anything else (known or not).
    pub fn parse_managed(name: &str) -> Result<StorageClass, UnknownName> {
        StorageClass::known(name)
            .filter(StorageClass::is_managed)
            .ok_or_else(|| {
                UnknownName::new(
                    "storage class",
                    name,
                    StorageClass::MANAGED
                        .iter()
                        .filter_map(StorageClass::known_name),
                )
            })
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = UnknownName;

    /// A known class (exact S3 spelling), or an [`UnknownName`] listing them. For data rows,
    /// where an unknown name must be kept, use `StorageClass::from`.
    fn from_str(s: &str) -> Result<StorageClass, UnknownName> {
        StorageClass::known(s).ok_or_else(|| UnknownName::new("storage class", s, KNOWN_NAMES))
    }
}

impl From<&str> for StorageClass {
    /// The class named exactly `name`, or `Unknown(name)`.
    fn from(name: &str) -> StorageClass {
        StorageClass::known(name).unwrap_or_else(|| StorageClass::Unknown(name.to_owned()))
    }
}

impl From<String> for StorageClass {
    /// The class named exactly `name`, or `Unknown(name)` (without copying it).
    fn from(name: String) -> StorageClass {
        StorageClass::known(&name).unwrap_or(StorageClass::Unknown(name))
    }
}

impl serde::Serialize for StorageClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StorageClass::*;

    #[test]
    fn every_known_name_round_trips() {
        for c in StorageClass::KNOWN {
            assert_eq!(c.as_str().parse::<StorageClass>(), Ok(c.clone()));
            assert_eq!(StorageClass::from(c.as_str()), c);
            assert_eq!(StorageClass::from(c.as_str().to_owned()), c);
            assert_eq!(c.known_name(), Some(c.as_str()));
            assert_eq!(c.to_string(), c.as_str());
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        assert_eq!(KNOWN_NAMES.len(), StorageClass::KNOWN.len());
    }

    /// The classes S3 returns that blobtier does not price still have their own variant.
    #[test]
    fn unpriced_s3_classes_are_known() {
        for (name, class) in [
            ("REDUCED_REDUNDANCY", ReducedRedundancy),
            ("OUTPOSTS", Outposts),
            ("EXPRESS_ONEZONE", ExpressOnezone),
            ("SNOW", Snow),
        ] {
            assert_eq!(name.parse::<StorageClass>(), Ok(class.clone()));
            assert_eq!(StorageClass::from(name), class);
            assert!(!class.is_managed() && !class.is_unknown(), "{name}");
        }
    }

    #[test]
    fn an_unknown_name_is_kept_by_rows_and_refused_by_config() {
        for name in ["GLACIER_DEEP", "standard", "", " STANDARD"] {
            let c = StorageClass::from(name);
            assert_eq!(c, Unknown(name.to_owned()));
            assert_eq!(c.as_str(), name);
            assert_eq!(c.known_name(), None);
            assert!(c.is_unknown() && !c.is_managed() && !c.needs_restore());
            assert!(!c.can_lifecycle_to(&GlacierIr) && !Standard.can_lifecycle_to(&c));
            let err = name.parse::<StorageClass>().unwrap_err();
            assert_eq!(err.value, name);
            assert_eq!(err.expected.len(), StorageClass::KNOWN.len());
        }
    }

    #[test]
    fn only_managed_classes_are_targets() {
        assert_eq!(StorageClass::parse_managed("GLACIER_IR"), Ok(GlacierIr));
        let err = StorageClass::parse_managed("EXPRESS_ONEZONE").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected one of `STANDARD`, `INTELLIGENT_TIERING`, `STANDARD_IA`, `ONEZONE_IA`, \
             `GLACIER_IR`, `GLACIER`, `DEEP_ARCHIVE`, got `EXPRESS_ONEZONE`"
        );
        assert!(StorageClass::parse_managed("glacier_ir").is_err());
        for (rank, c) in StorageClass::MANAGED.iter().enumerate() {
            assert_eq!(c.managed_rank(), Some(rank));
        }
        let managed = StorageClass::KNOWN
            .iter()
            .filter(|c| c.is_managed())
            .count();
        assert_eq!(managed, StorageClass::MANAGED.len());
        // Lifecycle targets: every managed class something can transition into.
        let into: Vec<StorageClass> = StorageClass::MANAGED
            .into_iter()
            .filter(|to| {
                StorageClass::KNOWN
                    .iter()
                    .any(|from| from.can_lifecycle_to(to))
            })
            .collect();
        let mut targets = StorageClass::LIFECYCLE_TARGETS.to_vec();
        targets.sort();
        let mut into = into;
        into.sort();
        assert_eq!(into, targets);
    }

    /// The AWS SDK's lists are ours: every class an object can be in, every lifecycle target.
    #[test]
    fn the_lists_match_the_aws_sdk() {
        use aws_sdk_s3::types::{ObjectStorageClass, TransitionStorageClass};
        let mut sdk: Vec<&str> = ObjectStorageClass::values().to_vec();
        let mut ours: Vec<&str> = KNOWN_NAMES.to_vec();
        sdk.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, sdk);
        let mut sdk: Vec<&str> = TransitionStorageClass::values().to_vec();
        let mut ours: Vec<&str> = StorageClass::LIFECYCLE_TARGETS
            .iter()
            .map(StorageClass::as_str)
            .collect();
        sdk.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, sdk);
    }

    #[test]
    fn only_archive_classes_need_a_restore() {
        let archived: Vec<_> = StorageClass::KNOWN
            .into_iter()
            .filter(StorageClass::needs_restore)
            .collect();
        assert_eq!(archived, [Glacier, DeepArchive]);
    }

    #[test]
    fn lifecycle_waterfall_matches_the_user_guide() {
        // Every (from, to) pair S3 lifecycle supports; all others must be refused.
        let allowed = [
            (Standard, IntelligentTiering),
            (Standard, StandardIa),
            (Standard, OnezoneIa),
            (Standard, GlacierIr),
            (Standard, Glacier),
            (Standard, DeepArchive),
            (StandardIa, IntelligentTiering),
            (StandardIa, OnezoneIa),
            (StandardIa, GlacierIr),
            (StandardIa, Glacier),
            (StandardIa, DeepArchive),
            (IntelligentTiering, OnezoneIa),
            (IntelligentTiering, GlacierIr),
            (IntelligentTiering, Glacier),
            (IntelligentTiering, DeepArchive),
            (OnezoneIa, Glacier),
            (OnezoneIa, DeepArchive),
            (GlacierIr, Glacier),
            (GlacierIr, DeepArchive),
            (Glacier, DeepArchive),
        ];
        for from in StorageClass::KNOWN {
            for to in StorageClass::KNOWN {
                assert_eq!(
                    from.can_lifecycle_to(&to),
                    allowed.contains(&(from.clone(), to.clone())),
                    "{from} -> {to}"
                );
            }
        }
    }
}
