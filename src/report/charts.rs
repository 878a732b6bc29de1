//! The report's charts, drawn with `plotters` on its SVG backend (text is SVG `<text>`, so no
//! font files are read or embedded). Every value drawn comes from the [`Summary`]; a chart
//! never computes a figure of its own.
//!
//! The output is deterministic: series are drawn in the summary's order.

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Error, Result, Summary};

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name beside `report.md` (`bytes_by_class.svg`).
    pub file: &'static str,
    /// Title.
    pub title: &'static str,
    /// One sentence saying what it shows (alt text).
    pub alt: String,
    /// The SVG document.
    pub svg: String,
}

/// Series colours (colour-blind safe, Dark2). Tests look for them in the screenshot.
pub const NOW: RGBColor = RGBColor(0x75, 0x70, 0xb3);
/// The plan's colour.
pub const PLAN: RGBColor = RGBColor(0x1b, 0x9e, 0x77);
/// Intelligent-Tiering's colour.
pub const IT: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);
const LIGHT: RGBColor = RGBColor(0xf2, 0xf2, 0xf2);
const FONT: &str = "sans-serif";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw(
    file: &'static str,
    size: (u32, u32),
    f: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| Error::Chart {
        chart: file,
        reason: e.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        f(&root).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// The frame of a full-width chart: its caption, a 15 px margin, 40 px for the x labels and
/// `y_labels` px for the y labels.
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    caption: &str,
    y_labels: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(root);
    b.caption(caption, (FONT, 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(y_labels);
    b
}

/// The series legend of the line charts: lower right, on a light background.
fn draw_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .label_font((FONT, 14))
        .draw()?;
    Ok(())
}

/// A unit that keeps the largest value between 1 and 1024: (divisor, name).
fn byte_unit(max: u64) -> (f64, &'static str) {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut d = 1.0;
    let mut u = 0;
    while max as f64 / d >= 1024.0 && u < UNITS.len() - 1 {
        d *= 1024.0;
        u += 1;
    }
    (d, UNITS[u])
}

/// Upper end of an axis: a little above the largest value, never an empty range.
fn top(max: f64) -> f64 {
    if max > 0.0 {
        max * 1.1
    } else {
        1.0
    }
}

/// Bar `i` of `n` on a segmented axis: from the left edge of its segment to the next.
fn seg(i: usize, n: usize) -> (SegmentValue<i32>, SegmentValue<i32>) {
    let next = if i + 1 >= n {
        SegmentValue::Last
    } else {
        SegmentValue::Exact(i as i32 + 1)
    };
    (SegmentValue::Exact(i as i32), next)
}

fn label_of(labels: &[String]) -> impl Fn(&SegmentValue<i32>) -> String + '_ {
    move |v| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels
            .get(usize::try_from(*i).unwrap_or(usize::MAX))
            .cloned()
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

/// Bytes per storage class, now and after the plan (horizontal bars, two panels).
fn bytes_by_class(s: &Summary) -> Result<Chart> {
    let classes: Vec<String> = s.by_class.iter().map(|c| c.class.clone()).collect();
    let n = classes.len().max(1);
    let max = s
        .by_class
        .iter()
        .map(|c| c.bytes_now.max(c.bytes_after))
        .max()
        .unwrap_or(0);
    let (div, unit) = byte_unit(max);
    let height = 120 + 40 * n as u32;
    let svg = draw("bytes_by_class.svg", (900, height), |root| {
        let panels = root.split_evenly((1, 2));
        for (k, panel) in panels.iter().enumerate() {
            let (caption, colour) = if k == 0 {
                ("Now", NOW)
            } else {
                ("After the plan", PLAN)
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, (FONT, 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(150)
                .build_cartesian_2d(
                    0f64..top(max as f64 / div),
                    (0..(n as i32 - 1)).into_segmented(),
                )?;
            let labels = label_of(&classes);
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&labels)
                .x_labels(5)
                .x_desc(unit)
                .label_style((FONT, 13))
                .light_line_style(LIGHT)
                .draw()?;
            chart.draw_series(s.by_class.iter().enumerate().map(|(i, c)| {
                let v = if k == 0 { c.bytes_now } else { c.bytes_after } as f64 / div;
                let (lo, hi) = seg(i, n);
                let mut r = Rectangle::new([(0.0, lo), (v, hi)], colour.filled());
                r.set_margin(6, 6, 0, 0);
                r
            }))?;
        }
        Ok(())
    })?;
    Ok(Chart {
        file: "bytes_by_class.svg",
        title: "Bytes by storage class, now and after the plan",
        alt: format!("Bytes per storage class now (left) and after the plan (right), in {unit}."),
        svg,
    })
}

/// Histogram of days since the last pull: blobs (left) and bytes (right).
fn days_since_last_pull(s: &Summary) -> Result<Chart> {
    let b = &s.days_since_last_pull;
    let labels: Vec<String> = b.iter().map(|x| x.label.clone()).collect();
    let n = b.len().max(1);
    let max_bytes = b.iter().map(|x| x.bytes).max().unwrap_or(0);
    let (div, unit) = byte_unit(max_bytes);
    let svg = draw("days_since_last_pull.svg", (900, 380), |root| {
        let panels = root.split_evenly((1, 2));
        for (k, panel) in panels.iter().enumerate() {
            let values: Vec<f64> = b
                .iter()
                .map(|x| {
                    if k == 0 {
                        x.objects as f64
                    } else {
                        x.bytes as f64 / div
                    }
                })
                .collect();
            let max = values.iter().copied().fold(0.0, f64::max);
            let caption = if k == 0 { "Blobs" } else { "Bytes" };
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, (FONT, 18))
                .margin(10)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d((0..(n as i32 - 1)).into_segmented(), 0f64..top(max))?;
            let fmt = label_of(&labels);
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&fmt)
                .x_desc("days since the last pull")
                .y_desc(if k == 0 { "blobs" } else { unit })
                .y_label_formatter(&|v| {
                    if k == 0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.1}")
                    }
                })
                .label_style((FONT, 13))
                .light_line_style(LIGHT)
                .draw()?;
            chart.draw_series(values.iter().enumerate().map(|(i, v)| {
                let (lo, hi) = seg(i, n);
                let mut r = Rectangle::new([(lo, 0.0), (hi, *v)], NOW.filled());
                r.set_margin(0, 0, 5, 5);
                r
            }))?;
        }
        Ok(())
    })?;
    Ok(Chart {
        file: "days_since_last_pull.svg",
        title: "Days since the last pull",
        alt: "Histogram of inventory blobs by days since their last pull, counted in blobs \
              (left) and bytes (right); `never` = no pull in the retained history."
            .into(),
        svg,
    })
}

/// Cumulative net savings of the plan and of Intelligent-Tiering over 24 months.
fn cumulative_savings(s: &Summary) -> Result<Chart> {
    let pts = &s.cumulative;
    let months = pts.last().map_or(24, |p| p.month) as f64;
    let (lo, hi) = pts.iter().fold((0.0f64, 0.0f64), |(lo, hi), p| {
        (
            lo.min(p.plan).min(p.intelligent_tiering),
            hi.max(p.plan).max(p.intelligent_tiering),
        )
    });
    let pad = ((hi - lo) * 0.08).max(0.01);
    let svg = draw("cumulative_savings.svg", (900, 420), |root| {
        let mut chart = frame(
            root,
            "Cumulative net savings against doing nothing (USD)",
            90,
        )
        .build_cartesian_2d(0f64..months, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("months")
            .x_labels(13)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| super::money(*v))
            .label_style((FONT, 13))
            .light_line_style(LIGHT)
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (months, 0.0)],
            GREY.stroke_width(1),
        ))?;
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (f64::from(p.month), p.plan)),
                PLAN.stroke_width(3),
            ))?
            .label("the plan")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PLAN.stroke_width(3)));
        chart
            .draw_series(LineSeries::new(
                pts.iter()
                    .map(|p| (f64::from(p.month), p.intelligent_tiering)),
                IT.stroke_width(3),
            ))?
            .label("Intelligent-Tiering for the same blobs")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], IT.stroke_width(3)));
        if let Some(m) = s
            .alternatives
            .plan
            .break_even_month
            .filter(|m| *m <= months)
        {
            chart.draw_series([Circle::new((m, 0.0), 6, PLAN.filled())])?;
            chart.draw_series([Text::new(
                format!("break-even after {}", super::days(Some(m * 30.0))),
                (m, (hi - lo) * 0.06),
                (FONT, 14),
            )])?;
        }
        draw_legend(&mut chart)
    })?;
    Ok(Chart {
        file: "cumulative_savings.svg",
        title: "Cumulative net savings over 24 months",
        alt: "Cumulative net savings of the plan and of Intelligent-Tiering against doing \
              nothing, month by month, one-time costs paid in month 0; the dot marks the \
              plan's break-even."
            .into(),
        svg,
    })
}

/// Hot-set size versus the share of pulls it would serve.
fn hot_set(s: &Summary) -> Result<Chart> {
    let hs = &s.hot_set;
    let max = hs
        .curve
        .last()
        .map_or(0, |p| p.bytes)
        .max(hs.max_bytes.min(hs.curve.last().map_or(0, |p| p.bytes) * 2));
    let (div, unit) = byte_unit(max);
    let xmax = top(max as f64 / div);
    let svg = draw("hot_set.svg", (900, 420), |root| {
        let mut chart = frame(
            root,
            "Cache size versus share of 7-day pulls it would serve",
            70,
        )
        .build_cartesian_2d(0f64..xmax, 0f64..1.05)?;
        chart
            .configure_mesh()
            .x_desc(format!("most-pulled blobs, cumulative {unit}"))
            .y_desc("share of pulls")
            .y_label_formatter(&|v| super::percent(*v))
            .label_style((FONT, 13))
            .light_line_style(LIGHT)
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                std::iter::once((0.0, 0.0))
                    .chain(hs.curve.iter().map(|p| (p.bytes as f64 / div, p.share))),
                PLAN.stroke_width(3),
            ))?
            .label("most-pulled blobs first")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PLAN.stroke_width(3)));
        let cap = hs.max_bytes as f64 / div;
        if cap <= xmax {
            chart
                .draw_series(LineSeries::new(
                    [(cap, 0.0), (cap, 1.0)],
                    IT.stroke_width(2),
                ))?
                .label("hot-set byte cap")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], IT.stroke_width(2)));
        }
        chart.draw_series([Circle::new(
            (hs.bytes as f64 / div, hs.pull_share_7d),
            6,
            IT.filled(),
        )])?;
        draw_legend(&mut chart)
    })?;
    Ok(Chart {
        file: "hot_set.svg",
        title: "Hot set: cache size versus pulls served",
        alt: "Cumulative share of 7-day pulls served by the most-pulled blobs against their \
              total size; the dot is the plan's hot set within its byte cap."
            .into(),
        svg,
    })
}

/// Pulls versus unique-pull ratio per digest (30 days, log scale).
fn pulls_vs_ratio(s: &Summary) -> Result<Chart> {
    let pts = &s.pull_through.points;
    let max = pts.iter().map(|p| p.pulls_30d).max().unwrap_or(1).max(10) as f64;
    let svg = draw("pulls_vs_ratio.svg", (900, 420), |root| {
        let mut chart = frame(root, "Pulls versus unique-pull ratio (30 days)", 60)
            .build_cartesian_2d((1f64..max * 1.5).log_scale(), 0f64..1.05)?;
        chart
            .configure_mesh()
            .x_desc("pulls in 30 days (log scale)")
            .y_desc("unique clients / pulls")
            .x_label_formatter(&|v| super::count(v.round() as i128))
            .label_style((FONT, 13))
            .light_line_style(LIGHT)
            .draw()?;
        chart.draw_series(
            pts.iter()
                .map(|p| Circle::new((p.pulls_30d as f64, p.ratio), 4, NOW.mix(0.7).filled())),
        )?;
        Ok(())
    })?;
    Ok(Chart {
        file: "pulls_vs_ratio.svg",
        title: "Pulls versus unique-pull ratio",
        alt: "One dot per pulled digest: many pulls with a low ratio are the same clients \
              (often CI runners) pulling the same layers again, which a pull-through cache near \
              them would serve."
            .into(),
        svg,
    })
}

/// Every chart, in report order.
pub fn render_all(s: &Summary) -> Result<Vec<Chart>> {
    Ok(vec![
        bytes_by_class(s)?,
        days_since_last_pull(s)?,
        cumulative_savings(s)?,
        hot_set(s)?,
        pulls_vs_ratio(s)?,
    ])
}
