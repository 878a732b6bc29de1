use super::*;

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(n)
}

fn windows(days: &[u32]) -> Windows {
    Windows::new(days).unwrap()
}

/// Parameters as of 2026-11-26.
fn params(days: &[u32], include_scanners: bool, count_manifest_pulls: bool) -> Params {
    Params {
        as_of: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        windows: windows(days),
        include_scanners,
        count_manifest_pulls,
        pull_source: crate::query::PullSource::Auto,
    }
}

/// A `digest_stats` frame for `windows` with the given columns; every other column of the
/// schema is NULL. `in_inventory` defaults to true.
fn stats_frame(windows: &Windows, given: Vec<Column>) -> DataFrame {
    let n = given.first().map_or(0, |c| c.len());
    let schema = stats_schema(windows).unwrap();
    let cols = schema
        .columns()
        .iter()
        .map(|c| match given.iter().find(|g| g.name() == c.name()) {
            Some(g) => g.clone(),
            None if c.name() == "in_inventory" => Column::new("in_inventory".into(), vec![true; n]),
            None => Column::full_null(c.name().clone(), n, c.dtype()),
        })
        .collect();
    DataFrame::new_infer_height(cols).unwrap()
}

fn ints(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let c = df.column(name).unwrap().i64().unwrap().clone();
    (0..c.len()).map(|k| c.get(k)).collect()
}

fn utc(name: &str, us: Vec<Option<i64>>, tz: Option<TimeZone>) -> Column {
    Column::new(name.into(), us)
        .cast(&DataType::Datetime(TimeUnit::Microseconds, tz))
        .unwrap()
}

#[test]
fn params_bound_every_window_and_the_longest() {
    let p = Params {
        pull_source: crate::query::PullSource::S3,
        ..params(&[120, 7, 30, 90], true, false)
    };
    let v = p.values();
    assert_eq!(v["as_of"], "2026-11-26");
    assert_eq!(v["from_7"], "2026-11-19");
    assert_eq!(v["from_30"], "2026-10-27");
    assert_eq!(v["from_90"], "2026-08-28");
    assert_eq!(v["from_120"], "2026-07-29");
    assert_eq!(v["from_max"], "2026-07-29");
    assert_eq!(v["include_scanners"], "TRUE");
    assert_eq!(v["count_manifest_pulls"], "FALSE");
    assert_eq!(v["pull_source"], "s3");
    assert_eq!(v.len(), 9);
}

#[test]
fn every_query_expands_for_every_dialect_and_renders_with_its_parameters() {
    let p = params(&[7, 14, 30, 90], false, true);
    for q in QUERIES {
        assert_eq!(Query::by_name(q.name).unwrap(), q);
        assert_eq!(q.file, format!("queries/{}.sql", q.name));
        for d in Dialect::ALL {
            let text = q.expand(&p, d).unwrap();
            assert!(
                !text.contains("${") && !text.contains("{{"),
                "{} {d}",
                q.name
            );
            let rendered = q.render(&p, d).unwrap();
            let (first, rest) = rendered.split_once('\n').unwrap();
            assert_eq!(
                first,
                format!("-- blobtier sql: {} for {d}, as_of=2026-11-26 windows=7,14,30,90 include_scanners=false count_manifest_pulls=true pull_source=auto", q.file)
            );
            assert_eq!(rest, text);
        }
    }
    assert!(matches!(
        Query::by_name("digest_stat"),
        Err(Error::UnknownQuery(_))
    ));
    assert!(schema_ddl("pulls", Dialect::Polars).is_err());
    assert!(schema_ddl("plan", Dialect::Spark).is_err());
}

/// The view has every column of `digest_stats` (so tier rules see them all) plus
/// `days_since_last_manifest_pull`, with the same types, whatever the windows.
#[test]
fn the_plan_view_keeps_every_stats_column() {
    for days in [&[7, 30, 90][..], &[1, 7, 14, 30, 60, 90, 120]] {
        let w = windows(days);
        let stats = stats_schema(&w).unwrap();
        let view = plan_view(stats.clone().lazy(), day(20_000), true)
            .unwrap()
            .collect()
            .unwrap();
        let mut want: Vec<(String, DataType)> = stats
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().clone()))
            .collect();
        want.push(("days_since_last_manifest_pull".into(), DataType::Int64));
        let got: Vec<(String, DataType)> = view
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.dtype().clone()))
            .collect();
        assert_eq!(got, want, "{days:?}");
        assert!(stats.column(&format!("pulls_{}d", days[0])).is_ok());
    }
}

/// Manifest pulls raise the pull columns the rules see. See: issue 7.
#[test]
fn plan_view_counts_manifest_pulls_as_uses() {
    let us = |d: i64| d * 86_400_000_000;
    let w = Windows::plan();
    let df = stats_frame(
        &w,
        vec![
            Column::new("pulls_7d".into(), [0i64, 1, 0]),
            Column::new("pulls_30d".into(), [0i64, 5, 2]),
            Column::new("pulls_90d".into(), [0i64, 5, 9]),
            Column::new("days_since_last_pull".into(), [None, Some(1i64), Some(40)]),
            utc(
                "last_pull_at",
                vec![None, Some(us(19_999)), Some(us(19_960))],
                Some(TimeZone::UTC),
            ),
            Column::new("manifest_pulls_30d".into(), [3i64, 1, 0]),
            Column::new("manifest_pulls_90d".into(), [4i64, 1, 0]),
            utc(
                "last_manifest_pull_at",
                vec![Some(us(19_998) + 5), Some(us(19_990)), None],
                Some(TimeZone::UTC),
            ),
        ],
    );
    let get = |count: bool| {
        plan_view(df.clone().lazy(), day(20_000), count)
            .unwrap()
            .collect()
            .unwrap()
    };
    let on = get(true);
    assert_eq!(ints(&on, "pulls_7d"), [Some(0), Some(1), Some(0)]);
    assert_eq!(ints(&on, "pulls_30d"), [Some(3), Some(5), Some(2)]);
    assert_eq!(ints(&on, "pulls_90d"), [Some(4), Some(5), Some(9)]);
    assert_eq!(
        ints(&on, "days_since_last_manifest_pull"),
        [Some(2), Some(10), None]
    );
    assert_eq!(
        ints(&on, "days_since_last_pull"),
        [Some(2), Some(1), Some(40)]
    );
    let last = on.column("last_pull_at").unwrap();
    let last = last.datetime().unwrap().physical().clone();
    assert_eq!(
        (0..3).map(|i| last.get(i)).collect::<Vec<_>>(),
        [Some(us(19_998) + 5), Some(us(19_999)), Some(us(19_960))]
    );
    let off = get(false);
    assert_eq!(ints(&off, "pulls_30d"), [Some(0), Some(5), Some(2)]);
    assert_eq!(ints(&off, "pulls_90d"), [Some(0), Some(5), Some(9)]);
    assert_eq!(
        ints(&off, "days_since_last_pull"),
        [None, Some(1), Some(40)]
    );
    assert_eq!(
        ints(&off, "days_since_last_manifest_pull"),
        [Some(2), Some(10), None]
    );
    // Stats written before the image graph existed pass unchanged.
    let old = df.drop("last_manifest_pull_at").unwrap();
    let same = plan_view(old.clone().lazy(), day(20_000), true)
        .unwrap()
        .collect()
        .unwrap();
    assert!(same.equals_missing(&old));
}

/// Only inventory rows: digests that are only in the logs have nothing to move.
#[test]
fn plan_view_holds_the_inventory_rows() {
    let w = Windows::plan();
    let df = stats_frame(
        &w,
        vec![
            Column::new("digest".into(), ["sha256:a", "sha256:b", "sha256:c"]),
            Column::new("in_inventory".into(), [true, false, true]),
            Column::new("pulls_30d".into(), [1i64, 2, 3]),
        ],
    );
    let view = plan_view(df.lazy(), day(20_000), true)
        .unwrap()
        .collect()
        .unwrap();
    let digests = view.column("digest").unwrap().str().unwrap().clone();
    assert_eq!(
        (0..view.height())
            .map(|i| digests.get(i))
            .collect::<Vec<_>>(),
        [Some("sha256:a"), Some("sha256:c")]
    );
}

#[test]
fn plan_view_accepts_stats_whose_timestamps_name_utc_differently() {
    // DuckDB/pyarrow write "Etc/UTC", blobtier writes "UTC": both must plan.
    let etc = TimeZone::opt_try_new(Some("Etc/UTC")).unwrap();
    let us = 1_700_000_000_000_000i64;
    let df = stats_frame(
        &Windows::plan(),
        vec![
            utc("last_pull_at", vec![Some(us)], etc),
            utc(
                "last_manifest_pull_at",
                vec![Some(us + 86_400_000_000)],
                Some(TimeZone::UTC),
            ),
            Column::new("pulls_30d".into(), [1i64]),
            Column::new("pulls_90d".into(), [2i64]),
            Column::new("manifest_pulls_30d".into(), [3i64]),
            Column::new("manifest_pulls_90d".into(), [4i64]),
            Column::new("days_since_last_pull".into(), [Some(5i64)]),
        ],
    );
    let as_of = day(us / 86_400_000_000 + 3);
    let out = plan_view(df.lazy(), as_of, true)
        .unwrap()
        .collect()
        .unwrap();
    assert_eq!(ints(&out, "pulls_30d"), [Some(3)]);
    assert_eq!(ints(&out, "pulls_90d"), [Some(4)]);
    assert_eq!(ints(&out, "days_since_last_manifest_pull"), [Some(2)]);
    assert_eq!(ints(&out, "days_since_last_pull"), [Some(2)]);
}

/// Stats without the plan's windows cannot be viewed: the error says which windows they have.
#[test]
fn plan_view_refuses_stats_without_the_plan_windows() {
    let mut df = stats_frame(&Windows::plan(), vec![]);
    df.rename("pulls_7d", "pulls_8d".into()).unwrap();
    let e = plan_view(df.lazy(), day(20_000), true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("windows [8, 30, 90]"), "{e}");
}

/// `digest_stats` folds the sources of a side in one `GROUP BY`: one sum per registry-side
/// format, the largest of those and of the s3 side's sum. A format missing from that list would
/// have its pulls dropped, so every format of the lake must be on exactly one side.
#[test]
fn digest_stats_puts_every_log_format_on_one_side() {
    let text = DIGEST_STATS.text;
    let s3_side = "source IN ('s3-access', 'cloudfront')";
    assert!(text.contains(s3_side));
    for f in crate::model::LogFormat::ALL {
        let name = f.as_str();
        let on_s3 = s3_side.contains(&format!("'{name}'"));
        for col in ["pulls", "bytes"] {
            let own_sum = format!("SUM(CASE WHEN source = '{name}' THEN {col} ELSE 0 END)");
            assert_eq!(
                text.contains(&own_sum),
                !on_s3,
                "{name}: a registry-side format has its own `{col}` sum, an s3-side one none"
            );
        }
    }
}
