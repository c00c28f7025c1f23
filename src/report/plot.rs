//! A sweep's plots as one SVG document (plotters' SVG backend), three
//! panels stacked:
//!
//! 1. `roc`: the ROC-style trade-off, recall against the FP rate over benign
//!    sources (or against benign alerts per benign hour when no run had a
//!    benign source), each point labelled by its parameter values;
//! 2. `rates`: recall (circles) and FP rate (triangles) against the swept
//!    parameter;
//! 3. `latency`: the median virtual time to the first alert naming a
//!    scanner against the swept parameter.
//!
//! Each panel is a `<g id="...">` holding the plotters drawing, with one
//! mark per grid point whose figure is defined (a point that flagged no
//! scanner has no latency). The x axis is the first swept parameter; with
//! more parameters, every combination of the others is a series of its own.
//! Text is laid out with plotters' built-in estimate (no font files), so the
//! output is the same on every machine.

use std::fmt::Write;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::sweep::SweepReport;

/// Panel size in pixels.
const WIDTH: u32 = 760;
const HEIGHT: u32 = 400;

/// Panel ids, in drawing order (the HTML report and the tests find them by these).
pub const PANELS: [&str; 3] = ["roc", "rates", "latency"];

/// One point of a series: its position on the parameter axis, its label and
/// its figures.
struct Mark {
    x: f64,
    label: String,
    recall: Option<f64>,
    fp_rate: Option<f64>,
    per_hour: Option<f64>,
    latency_s: Option<f64>,
}

/// Points that share the values of every axis but the first.
struct Series {
    name: String,
    marks: Vec<Mark>,
}

/// The first axis is numeric when every value parses as a number; else the
/// values are placed 0, 1, 2, ... and labelled by their text.
struct XAxis {
    name: String,
    numeric: bool,
    values: Vec<String>,
}

impl XAxis {
    fn position(&self, value: &str) -> f64 {
        if self.numeric {
            value.parse().unwrap_or(0.0)
        } else {
            self.values.iter().position(|v| v == value).unwrap_or(0) as f64
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        if !self.numeric {
            return -0.5..self.values.len() as f64 - 0.5;
        }
        let xs: Vec<f64> = self.values.iter().map(|v| self.position(v)).collect();
        padded(&xs, f64::NEG_INFINITY)
    }

    /// Tick labels to ask plotters for: one per value when categorical.
    fn ticks(&self) -> usize {
        if self.numeric { 10 } else { self.values.len() }
    }

    fn label(&self, x: f64) -> String {
        if self.numeric {
            let s = format!("{x:.6}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                self.values.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
    }
}

/// `lo..hi` covering `xs` with a margin, never empty; the low end stays at
/// or above `floor` unless the data is below it.
fn padded(xs: &[f64], floor: f64) -> std::ops::Range<f64> {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        let floor = floor.max(0.0);
        return floor..floor + 1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        hi.abs().max(1.0) * 0.5
    };
    (lo - pad).max(floor.min(lo))..hi + pad
}

/// The range of a y axis with room above the data for the legend.
fn with_headroom(r: std::ops::Range<f64>) -> std::ops::Range<f64> {
    r.start..r.end + (r.end - r.start) * 0.3
}

/// Joins the labels of marks drawn at one spot: `a, b, c` or `a, b ... z (n)`.
fn joined(labels: &[&str]) -> String {
    if labels.len() <= 3 {
        labels.join("; ")
    } else {
        format!(
            "{}; {} ... {} ({} points)",
            labels[0],
            labels[1],
            labels[labels.len() - 1],
            labels.len()
        )
    }
}

fn series(r: &SweepReport) -> (XAxis, Vec<Series>) {
    let axes = &r.grid.axes;
    let x = XAxis {
        name: axes[0].name.clone(),
        numeric: axes[0].values.iter().all(|v| v.parse::<f64>().is_ok()),
        values: axes[0].values.clone(),
    };
    let mut out: Vec<Series> = Vec::new();
    for (p, f) in r.grid.points.iter().zip(r.figures()) {
        let name: Vec<String> = axes[1..]
            .iter()
            .zip(&p.values[1..])
            .map(|(a, v)| format!("{}={v}", a.name))
            .collect();
        let name = name.join(",");
        let pooled = &f.pooled;
        let mark = Mark {
            x: x.position(&p.values[0]),
            label: p.values.join(","),
            recall: pooled.recall().map(|v| 100.0 * v),
            fp_rate: pooled.fp_rate().map(|v| 100.0 * v),
            per_hour: pooled.benign_alerts_per_hour(),
            latency_s: pooled.median_latency_us().map(|us| us as f64 / 1e6),
        };
        match out.iter_mut().find(|s| s.name == name) {
            Some(s) => s.marks.push(mark),
            None => out.push(Series {
                name,
                marks: vec![mark],
            }),
        }
    }
    (x, out)
}

fn color(i: usize) -> RGBColor {
    // Colour-blind-safe (Okabe-Ito), in a fixed order.
    const C: [(u8, u8, u8); 7] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (0, 0, 0),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

fn plot_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Plot(format!("{e:?}"))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// One drawn series: its legend name (empty: none), its mark shape and its
/// `(x, y, label)` points.
struct Layer {
    name: String,
    triangle: bool,
    points: Vec<(f64, f64, String)>,
}

/// Draws `(x, y)` marks per series with a line through them; `triangle`
/// picks the mark shape; `labels` writes each mark's label beside it.
#[allow(clippy::too_many_arguments)]
fn scatter(
    area: &Area<'_>,
    caption: &str,
    x_desc: &str,
    y_desc: &str,
    x_range: std::ops::Range<f64>,
    y_range: std::ops::Range<f64>,
    x_label: &dyn Fn(&f64) -> String,
    x_ticks: usize,
    y_cap: f64,
    layers: &[Layer],
    labels: bool,
) -> Result<()> {
    // Tick labels above the data (the legend's headroom) are left blank.
    let y_label = |v: &f64| {
        if *v > y_cap + 1e-9 {
            String::new()
        } else {
            let s = format!("{v:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    };
    area.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, y_range)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(x_label)
        .x_labels(x_ticks)
        .y_label_formatter(&y_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(plot_err)?;
    for (
        i,
        Layer {
            name,
            triangle,
            points,
        },
    ) in layers.iter().enumerate()
    {
        let c = color(i);
        let xy: Vec<(f64, f64)> = points.iter().map(|(x, y, _)| (*x, *y)).collect();
        let line = chart
            .draw_series(LineSeries::new(xy.clone(), c.stroke_width(1)))
            .map_err(plot_err)?;
        if !name.is_empty() {
            line.label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], c.filled()));
        }
        if *triangle {
            chart
                .draw_series(xy.iter().map(|&p| TriangleMarker::new(p, 6, c.filled())))
                .map_err(plot_err)?;
        } else {
            chart
                .draw_series(xy.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(plot_err)?;
        }
    }
    if labels {
        // One label per spot: coincident marks (equal figures) share it.
        let mut spots: Vec<((f64, f64), Vec<&str>)> = Vec::new();
        for (x, y, text) in layers.iter().flat_map(|l| &l.points) {
            match spots.iter_mut().find(|(p, _)| *p == (*x, *y)) {
                Some((_, v)) => v.push(text),
                None => spots.push(((*x, *y), vec![text])),
            }
        }
        chart
            .draw_series(spots.iter().map(|(p, texts)| {
                EmptyElement::at(*p)
                    + Text::new(joined(texts), (6, -14), ("sans-serif", 11).into_font())
            }))
            .map_err(plot_err)?;
    }
    if layers.iter().any(|l| !l.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
    }
    Ok(())
}

fn layer(
    series: &[Series],
    suffix: &str,
    triangle: bool,
    x: impl Fn(&Mark) -> Option<f64>,
    y: impl Fn(&Mark) -> Option<f64>,
) -> Vec<Layer> {
    series
        .iter()
        .map(|s| {
            let name = match (s.name.is_empty(), suffix.is_empty()) {
                (true, _) => suffix.to_string(),
                (false, true) => s.name.clone(),
                (false, false) => format!("{suffix} {}", s.name),
            };
            let pts = s
                .marks
                .iter()
                .filter_map(|m| Some((x(m)?, y(m)?, m.label.clone())))
                .collect();
            Layer {
                name,
                triangle,
                points: pts,
            }
        })
        .collect()
}

/// Renders one panel into an SVG string.
fn panel(draw: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// The plots of `r` as one SVG document.
///
/// # Errors
/// [`Error::Plot`] if plotters refuses to draw (it should not for any grid).
pub fn sweep_svg(r: &SweepReport) -> Result<String> {
    let (x, series) = series(r);
    let x_label = |v: &f64| x.label(*v);
    let title = format!("{} over {}", r.grid.base, x.name);
    let missing = |f: &dyn Fn(&Mark) -> Option<f64>| {
        let n = series
            .iter()
            .flat_map(|s| &s.marks)
            .filter(|m| f(m).is_none())
            .count();
        if n == 0 {
            String::new()
        } else {
            format!(" ({n} point(s) undefined)")
        }
    };
    let use_rate = series
        .iter()
        .flat_map(|s| &s.marks)
        .any(|m| m.fp_rate.is_some());
    let roc_x = move |m: &Mark| if use_rate { m.fp_rate } else { m.per_hour };
    let roc_x_desc = if use_rate {
        "FP rate: benign sources flagged (%)"
    } else {
        "benign-triggered alerts per benign hour"
    };
    let roc = layer(&series, "", false, roc_x, |m| m.recall);
    let roc_xs: Vec<f64> = roc
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    let no_label = |v: &f64| {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    let roc_xs_range = padded(&roc_xs, 0.0);
    let mut panels = Vec::new();
    panels.push(panel(|a| {
        scatter(
            a,
            &format!(
                "{title}: recall against {}{}",
                if use_rate {
                    "FP rate"
                } else {
                    "benign alerts/h"
                },
                missing(&|m| roc_x(m).zip(m.recall).map(|p| p.0))
            ),
            roc_x_desc,
            "recall: scanners flagged (%)",
            roc_xs_range,
            with_headroom(-5.0..105.0),
            &no_label,
            10,
            100.0,
            &roc,
            true,
        )
    })?);
    let mut rates = layer(&series, "recall", false, |m| Some(m.x), |m| m.recall);
    rates.extend(layer(
        &series,
        "FP rate",
        true,
        |m| Some(m.x),
        |m| m.fp_rate,
    ));
    panels.push(panel(|a| {
        scatter(
            a,
            &format!(
                "{title}: recall and FP rate{}",
                missing(&|m| m.recall.and(m.fp_rate))
            ),
            &x.name,
            "% of scanners (recall) / of benign sources (FP rate)",
            x.range(),
            with_headroom(-5.0..105.0),
            &x_label,
            x.ticks(),
            100.0,
            &rates,
            false,
        )
    })?);
    let lat = layer(&series, "", false, |m| Some(m.x), |m| m.latency_s);
    let lat_ys: Vec<f64> = lat
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .collect();
    let lat_range = padded(&lat_ys, 0.0);
    panels.push(panel(|a| {
        scatter(
            a,
            &format!("{title}: median time to alert{}", missing(&|m| m.latency_s)),
            &x.name,
            "median virtual time to alert (s)",
            x.range(),
            with_headroom(lat_range.clone()),
            &x_label,
            x.ticks(),
            lat_range.end,
            &lat,
            false,
        )
    })?);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\" viewBox=\"0 0 {WIDTH} {}\">",
        HEIGHT * 3,
        HEIGHT * 3
    );
    for (i, (id, svg)) in PANELS.iter().zip(&panels).enumerate() {
        let inner = svg.trim_start_matches(|c| c != '<');
        let inner = match inner.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(rest, |(_, b)| b).trim_start(),
            None => inner,
        };
        let _ = writeln!(
            out,
            "<g id=\"{id}\" class=\"panel\" transform=\"translate(0,{})\">\n{inner}</g>",
            HEIGHT as usize * i
        );
    }
    out.push_str("</svg>\n");
    Ok(out)
}
