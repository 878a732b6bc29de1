//! The closed vocabularies of config and plan files: [`Method`], [`RestoreTier`],
//! [`Estimator`] and [`Action`], each a `Copy` enum with one name per value, one list of all
//! values (`ALL`), `as_str`, `Display` and a `FromStr` that accepts exactly those names and
//! fails with an [`UnknownName`] listing them.
//!
//! Invariant: a name is parsed once, at the edge (config validation, a Parquet row); nothing
//! past the edge holds the string or falls back to a default on a name it does not know.
//! The storage classes, which also have to carry names blobtier does not know, are
//! [`super::StorageClass`]. This module does no I/O.

/// A name that is not one of a vocabulary's values.
///
/// `Display` is the part a caller puts after the key it was read from:
/// "expected one of `copy`, `lifecycle`, got `move`".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected one of {}, got `{value}`", quoted(expected))]
pub struct UnknownName {
    /// What was being parsed (`storage class`, `estimator`, …).
    pub what: &'static str,
    /// The name given.
    pub value: String,
    /// The accepted names.
    pub expected: Vec<&'static str>,
}

impl UnknownName {
    /// `value` is not one of the `expected` names of `what`.
    pub fn new(
        what: &'static str,
        value: &str,
        expected: impl IntoIterator<Item = &'static str>,
    ) -> UnknownName {
        UnknownName {
            what,
            value: value.to_owned(),
            expected: expected.into_iter().collect(),
        }
    }
}

/// "`a`, `b`, `c`".
fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Defines a closed vocabulary: a `Copy` enum, `ALL`, `as_str`, `Display`, an exact `FromStr`
/// failing with [`UnknownName`], and `Serialize` as the name. `what` names the vocabulary in
/// errors; each variant is given with its name: `Copy = "copy",`.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The name in config, plan files, reports and logs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::model::UnknownName;

            /// Accepts exactly the names of `as_str`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        $crate::model::UnknownName::new($what, s, Self::ALL.map(Self::as_str))
                    })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// How an object is moved to another class (`plan.method`, the plan's `method` column).
    pub enum Method ("move method") {
        /// `CopyObject` onto itself with a new storage class. Works between any two classes
        /// (after a restore for GLACIER / DEEP_ARCHIVE), resets Last-Modified and, in a
        /// versioned bucket, leaves the old version behind as a noncurrent version.
        Copy = "copy",
        /// Tag the object and let a tag-filtered lifecycle rule transition it. Only the moves
        /// S3 lifecycle supports ([`super::StorageClass::can_lifecycle_to`]); keeps
        /// Last-Modified.
        Lifecycle = "lifecycle",
    }
}

vocabulary! {
    /// Restore (`RestoreObject`) speed tier for GLACIER and DEEP_ARCHIVE objects
    /// (`plan.restore_tier`). Named in lower case as in the config; [`RestoreTier::api_name`]
    /// is S3's spelling.
    pub enum RestoreTier ("restore tier") {
        /// Minutes; GLACIER only; the most expensive.
        Expedited = "expedited",
        /// Hours; S3's default tier.
        Standard = "standard",
        /// Up to 12 (GLACIER) or 48 (DEEP_ARCHIVE) hours; the cheapest (free for GLACIER).
        Bulk = "bulk",
    }
}

impl RestoreTier {
    /// The S3 API name (`Tier` in `GlacierJobParameters`): `Expedited`, `Standard`, `Bulk`.
    pub fn api_name(self) -> &'static str {
        match self {
            RestoreTier::Expedited => "Expedited",
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
        }
    }
}

vocabulary! {
    /// How past pull counts become expected pulls per 30 days (`plan.estimator`; the formulas
    /// are `cost::expected_pulls_30d`). A plan records which one produced its numbers.
    pub enum Estimator ("estimator") {
        /// `pulls_90d / 90 × 30`: the long-run rate; smooths out bursts (the default).
        Rate90d = "rate_90d",
        /// `pulls_30d`: the last month as it was.
        Rate30d = "rate_30d",
        /// `max(pulls_7d / 7 × 30, pulls_30d)`: reacts to a blob that has just become hot.
        Max7d30d = "max_7d_30d",
    }
}

vocabulary! {
    /// What the plan does with one object (the plan's `action` column).
    pub enum Action ("action") {
        /// Nothing: the object stays where it is (`none`; only in `decisions`, never in a
        /// plan's actions).
        Keep = "none",
        /// Change the storage class by the row's [`Method`].
        Transition = "transition",
        /// Restore an archived object, then copy it to its target class.
        Restore = "restore",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value's name parses back to it, serialises as it, and nothing else parses.
    fn round_trips<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display,
        T: std::str::FromStr<Err = UnknownName> + serde::Serialize,
    {
        for &v in all {
            assert_eq!(as_str(v).parse::<T>(), Ok(v));
            assert_eq!(v.to_string(), as_str(v));
            assert_eq!(
                serde_json::to_string(&v).unwrap(),
                format!("\"{}\"", as_str(v))
            );
            // Names are exact: no other spelling is accepted.
            assert!(as_str(v).to_uppercase().parse::<T>().is_err());
        }
        let err = "garbage".parse::<T>().unwrap_err();
        assert_eq!(err.value, "garbage");
        assert_eq!(
            err.expected,
            all.iter().map(|v| as_str(*v)).collect::<Vec<_>>()
        );
        assert!("".parse::<T>().is_err());
    }

    #[test]
    fn every_vocabulary_round_trips() {
        round_trips(&Method::ALL, Method::as_str);
        round_trips(&RestoreTier::ALL, RestoreTier::as_str);
        round_trips(&Estimator::ALL, Estimator::as_str);
        round_trips(&Action::ALL, Action::as_str);
    }

    #[test]
    fn names_are_the_ones_in_config_and_plan_files() {
        let names = |v: &[&str]| v.join(" ");
        assert_eq!(names(&Method::ALL.map(Method::as_str)), "copy lifecycle");
        assert_eq!(
            names(&RestoreTier::ALL.map(RestoreTier::as_str)),
            "expedited standard bulk"
        );
        assert_eq!(
            RestoreTier::ALL.map(RestoreTier::api_name),
            ["Expedited", "Standard", "Bulk"]
        );
        assert_eq!(
            names(&Estimator::ALL.map(Estimator::as_str)),
            "rate_90d rate_30d max_7d_30d"
        );
        assert_eq!(
            names(&Action::ALL.map(Action::as_str)),
            "none transition restore"
        );
    }

    #[test]
    fn an_unknown_name_lists_the_choices() {
        let err = "ewma".parse::<Estimator>().unwrap_err();
        assert_eq!(err.what, "estimator");
        assert_eq!(
            err.to_string(),
            "expected one of `rate_90d`, `rate_30d`, `max_7d_30d`, got `ewma`"
        );
        assert_eq!(
            "move".parse::<Method>().unwrap_err().to_string(),
            "expected one of `copy`, `lifecycle`, got `move`"
        );
    }
}
