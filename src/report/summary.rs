//! What `summary.json` holds: every figure of the report, as [`super::summarize()`] computes it
//! and the renderers show it. Data only; the field docs give each figure's definition and unit.
//!
//! Must not: compute anything (the renderers format these numbers; nothing re-derives them).

use serde::Serialize;

use super::backtest::Backtest;
use super::read::LedgerRejects;

/// Every figure of the report (`summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Format version.
    pub v: u32,
    /// As-of day of the plan.
    pub as_of: String,
    /// The plan's content hash.
    pub plan_id: String,
    /// `blobtier <version>`.
    pub generated_by: String,
    /// Price table.
    pub pricing: Pricing,
    /// The headline figures.
    pub headline: Headline,
    /// Objects, bytes and cost per storage class, now and after the plan.
    pub by_class: Vec<ClassRow>,
    /// Objects, bytes and cost per policy tier.
    pub by_tier: Vec<TierRow>,
    /// The plan versus doing nothing and versus Intelligent-Tiering.
    pub alternatives: Alternatives,
    /// Cumulative net savings per month, months 0 to [`super::CUMULATIVE_MONTHS`].
    pub cumulative: Vec<CumulativePoint>,
    /// The moves that save most over 12 months.
    pub top_moves: Vec<TopMove>,
    /// Decisions per reason code.
    pub reasons: Vec<ReasonRow>,
    /// Blobs by days since the last pull.
    pub days_since_last_pull: Vec<AgeBucket>,
    /// Hot set (cache candidates).
    pub hot_set: HotSet,
    /// Repeat pulls a pull-through cache would absorb.
    pub pull_through: PullThrough,
    /// Data quality.
    pub data_quality: DataQuality,
    /// Assumptions.
    pub assumptions: Assumptions,
    /// The latest backtest on or before as-of, if any.
    pub backtest: Option<Backtest>,
    /// Blobs no manifest references (None without an image graph).
    pub unreferenced: Option<Unreferenced>,
    /// The earlier plans' actions against the newest inventory ([`super::realized`]; None
    /// without an earlier plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub realized: Option<super::realized::Realized>,
    /// Pulls per log source and the blobs clients failed to pull ([`super::sources`]).
    pub sources: super::sources::Sources,
    /// The versioned buckets the plan copies in: their old versions and how to expire them
    /// (absent when there is none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versioning: Vec<VersionedBucket>,
}

/// A versioned bucket the plan copies objects in: every copy leaves the old version billed
/// in its old class until a `NoncurrentVersionExpiration` rule deletes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VersionedBucket {
    /// The bucket.
    pub bucket: String,
    /// How the plan knew it is versioned: `config` or `inventory`.
    pub source: String,
    /// Days the old versions were priced for (`plan.noncurrent_days`).
    pub noncurrent_days: u32,
    /// Copies the plan makes in the bucket.
    pub copies: u64,
    /// Their bytes.
    pub bytes: u64,
    /// What the old versions cost for `noncurrent_days` (USD; in the one-time costs).
    pub old_version_cost: f64,
    /// The prefix the rule is scoped to (the copied keys' common prefix up to its last `/`;
    /// `None`: the whole bucket).
    pub prefix: Option<String>,
    /// The lifecycle configuration to add (S3's JSON on one line, `{"Rules": [...]}`).
    pub rule: String,
    /// The AWS CLI command that installs it.
    pub cli: String,
}

/// Blobs in the inventory that no manifest revision of any repository references
/// (`ref_repos = 0`): what `registry garbage-collect` would delete, and what they cost.
/// blobtier only reports them; it never deletes anything.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unreferenced {
    /// Blobs.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their monthly cost now (USD, from `decisions`).
    pub monthly_cost_now: f64,
    /// Their monthly cost after the plan (USD).
    pub monthly_cost_after: f64,
    /// Of the blobs, those the plan moves.
    pub planned_moves: u64,
    /// The costliest, at most [`super::TOP_MOVES`].
    pub largest: Vec<UnreferencedBlob>,
}

/// One unreferenced blob.
#[derive(Debug, Clone, Serialize)]
pub struct UnreferencedBlob {
    /// Digest.
    pub digest: String,
    /// Bytes.
    pub size: i64,
    /// Current class.
    pub storage_class: String,
    /// Monthly cost now (USD).
    pub monthly_cost_now: f64,
}

/// Price table identity.
#[derive(Debug, Clone, Serialize)]
pub struct Pricing {
    /// AWS region.
    pub region: String,
    /// Date the prices were published.
    pub as_of: String,
    /// Keys the table marks unverified for the region (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
    /// Classes past their first volume tier, with the tiered totals the class and headline
    /// figures include (absent when every class is below its first tier).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_tiers: Vec<crate::plan::volumes::ClassVolume>,
}

/// Headline figures (USD).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Headline {
    /// Blobs in the plan's decisions (the inventory's blobs).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Actions (`action != 'none'`).
    pub actions: u64,
    /// Bytes of the actions.
    pub bytes_moved: u64,
    /// USD/month of all blobs now: sum of `monthly_cost_now`.
    pub monthly_cost_now: f64,
    /// USD/month after the plan: sum of `monthly_cost_after`.
    pub monthly_cost_after: f64,
    /// `monthly_cost_now - monthly_cost_after`.
    pub monthly_savings: f64,
    /// One-time costs of the actions.
    pub one_time: OneTimeParts,
    /// `12 × monthly_savings − one_time.total`.
    pub net_savings_12m: f64,
    /// The plan's horizon in months.
    pub horizon_months: u32,
    /// `horizon_months × monthly_savings − one_time.total`.
    pub net_savings_horizon: f64,
    /// Days until the savings repay the one-time costs: `one_time.total / (monthly_savings / 30)`;
    /// None when the plan saves nothing per month.
    pub payback_days: Option<f64>,
}

/// One-time costs split by kind (USD).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct OneTimeParts {
    /// Summed over the actions whose parts the cost model reproduces with the current config
    /// (serialised inline: `transition`, `early_delete`, …).
    #[serde(flatten)]
    pub parts: crate::cost::OneTimeBreakdown,
    /// Rows whose parts could not be reproduced with the current config (their whole cost).
    pub unattributed: f64,
    /// Sum of `one_time_cost` over the actions.
    pub total: f64,
}

/// One storage class, now and after the plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassRow {
    /// Class.
    pub class: String,
    /// Blobs in the class now.
    pub objects_now: u64,
    /// Their bytes.
    pub bytes_now: u64,
    /// Their USD/month now.
    pub monthly_now: f64,
    /// Blobs in the class after the plan.
    pub objects_after: u64,
    /// Their bytes.
    pub bytes_after: u64,
    /// Their USD/month after.
    pub monthly_after: f64,
}

/// One policy tier.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TierRow {
    /// Tier (`none` = no rule matched).
    pub tier: String,
    /// Blobs.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
    /// Actions.
    pub actions: u64,
    /// Bytes of the actions.
    pub bytes_moved: u64,
    /// USD/month now.
    pub monthly_now: f64,
    /// USD/month after.
    pub monthly_after: f64,
}

/// One way to go (USD).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Scenario {
    /// USD/month in the first month.
    pub monthly_first: f64,
    /// USD/month once settled.
    pub monthly_steady: f64,
    /// One-time cost.
    pub one_time: f64,
    /// Total cost of the first 12 months, one-time cost included.
    pub cost_12m: f64,
    /// Doing nothing's `cost_12m` minus this one's.
    pub net_savings_12m: f64,
    /// Month at which the cumulative net savings reach zero (None: not within 24 months, or
    /// nothing to repay).
    pub break_even_month: Option<f64>,
}

/// The plan against the alternatives, for the same blobs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Alternatives {
    /// Keep every blob where it is.
    pub do_nothing: Scenario,
    /// Carry out the plan.
    pub plan: Scenario,
    /// A bucket-wide lifecycle rule moving every eligible blob to INTELLIGENT_TIERING.
    pub intelligent_tiering: Scenario,
    /// Blobs such a rule would move (STANDARD and STANDARD_IA, at least 128 KiB).
    pub it_objects: u64,
    /// Their bytes.
    pub it_bytes: u64,
    /// The monitoring fee of all monitored blobs, USD/month.
    pub it_monitoring_monthly: f64,
}

/// Cumulative net savings against doing nothing after `month` months (USD).
#[derive(Debug, Clone, Serialize)]
pub struct CumulativePoint {
    /// Months since the start (0 = right after the one-time costs).
    pub month: u32,
    /// The plan.
    pub plan: f64,
    /// Intelligent-Tiering.
    pub intelligent_tiering: f64,
}

/// One move.
#[derive(Debug, Clone, Serialize)]
pub struct TopMove {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Digest.
    pub digest: String,
    /// Bytes.
    pub size: i64,
    /// From class.
    pub from_class: String,
    /// To class.
    pub to_class: String,
    /// Reason code.
    pub reason: String,
    /// USD/month now.
    pub monthly_now: f64,
    /// USD/month after.
    pub monthly_after: f64,
    /// One-time USD.
    pub one_time: f64,
    /// Payback in days.
    pub payback_days: Option<f64>,
    /// Net 12-month savings.
    pub net_savings_12m: f64,
}

/// Decisions with one reason code.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReasonRow {
    /// Reason code.
    pub reason: String,
    /// `kept:*` (no action).
    pub kept: bool,
    /// Blobs.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
    /// USD/month now.
    pub monthly_now: f64,
    /// USD/month after.
    pub monthly_after: f64,
}

/// Blobs whose last pull is in a range of days.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgeBucket {
    /// Label, e.g. `30-89`.
    pub label: String,
    /// Lowest day count (None for `never`).
    pub min_days: Option<i64>,
    /// Highest day count, inclusive (None: no upper end).
    pub max_days: Option<i64>,
    /// Blobs.
    pub objects: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One point of the hot-set curve.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Digests in the set.
    pub digests: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Share of all 7-day pulls they received.
    pub share: f64,
}

/// Hot set: the most-pulled digests, for a pull-through cache or CDN.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HotSet {
    /// The plan's hot set: digests.
    pub digests: u64,
    /// Its bytes.
    pub bytes: u64,
    /// Its byte cap.
    pub max_bytes: u64,
    /// Its share of 7-day pulls.
    pub pull_share_7d: f64,
    /// All 7-day pulls of inventory blobs.
    pub pulls_7d: i64,
    /// Bytes of the most-pulled digests versus the share of pulls they received (at most 200
    /// points, most-pulled first).
    pub curve: Vec<CurvePoint>,
}

/// One digest in the pulls-vs-ratio chart.
#[derive(Debug, Clone, Serialize)]
pub struct PullPoint {
    /// Pulls in 30 days.
    pub pulls_30d: i64,
    /// Unique-pull ratio in 30 days.
    pub ratio: f64,
}

/// Repeat pulls: the same client pulling the same blob again.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullThrough {
    /// Digests pulled in 30 days.
    pub digests_pulled_30d: u64,
    /// Their pulls.
    pub pulls_30d: i64,
    /// Sum of their distinct clients.
    pub unique_clients_30d: i64,
    /// `pulls_30d − unique_clients_30d`: pulls a cache next to the clients would serve.
    pub repeat_pulls_30d: i64,
    /// Bytes of those pulls (digests of known size).
    pub repeat_bytes_30d: u64,
    /// Digests charted (the most pulled, at most 1,000).
    pub points: Vec<PullPoint>,
}

/// Data quality.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataQuality {
    /// Days checked for log coverage (the longest stats window).
    pub window_days: u32,
    /// Days in the window with no log input at all.
    pub missing_log_days: Vec<String>,
    /// Inventory snapshot used.
    pub inventory_snapshot: Option<String>,
    /// Its age in days at as-of.
    pub inventory_age_days: Option<i64>,
    /// The age above which `run` holds moves down.
    pub max_inventory_age_days: u32,
    /// Digests pulled in the window but absent from the inventory.
    pub digests_not_in_inventory: u64,
    /// Their 30-day pulls.
    pub pulls_30d_not_in_inventory: i64,
    /// Rejected lines, from the ledger.
    pub rejects: LedgerRejects,
    /// Why the plan held moves down, if it did.
    pub held_down: Option<String>,
    /// The coverage gaps the plan was made despite (`--allow-gaps`), if it was.
    pub gaps_allowed: Option<String>,
    /// Everything a reader must know before trusting the numbers.
    pub warnings: Vec<String>,
}

/// One tier rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    /// Tier.
    pub name: String,
    /// SQL condition.
    pub when: String,
    /// Target class.
    pub class: String,
}

/// Assumptions behind the numbers.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// Expected-pulls estimator.
    pub estimator: String,
    /// Savings horizon in months.
    pub horizon_months: u32,
    /// Longest payback a move may have.
    pub max_payback_days: f64,
    /// Restore tier for archived blobs.
    pub restore_tier: String,
    /// Default move method.
    pub method: String,
    /// Smallest blob that may move, bytes.
    pub min_size: u64,
    /// Bytes per GB.
    pub bytes_per_gb: f64,
    /// Days per month.
    pub days_per_month: f64,
    /// The tier rules in force when the report was made.
    pub tiers: Vec<Rule>,
    /// Plain statements.
    pub statements: Vec<String>,
}
