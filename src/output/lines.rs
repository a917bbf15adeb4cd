//! Line plots of several named series against one axis (band diagrams, carrier densities,
//! self-consistent convergence), linear or logarithmic in y.
//!
//! Log axes have ticks at decades labelled 10ⁿ; an axis whose x values are all integers
//! (iterations) gets integer ticks; label areas are sized to the labels; the legend sits
//! right of the plot and shows each curve's colour and dash pattern (and a dot on each point
//! of a short integer axis, such as iterations); curves are clipped at
//! the frame (a value below a log axis leaves through its bottom instead of running along it).

use std::path::Path;

use plotters::prelude::*;

use super::plot::{draw_curve, draw_legend, ensure_font_pub as ensure_font, legend_width, line_chart, Axis, Dash, LegendEntry, Marker};
use crate::error::{QdError, Result};

const COLOURS: [RGBColor; 6] = [RGBColor(0, 0, 0), RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(255, 127, 14), RGBColor(148, 103, 189)];

/// One curve: a label and one y per x (non-finite values, and non-positive ones on a log
/// axis, break the line).
pub struct Series<'a> {
    pub label: String,
    pub y: &'a [f64],
    /// Dashed (e.g. Fermi levels, doping). Successive dashed series get different
    /// patterns (dashed, dotted, dash-dot) so that coinciding ones stay distinguishable.
    pub dashed: bool,
}

/// The most decades a log axis spans below its maximum.
const MAX_DECADES: f64 = 14.0;

/// Plot `series` against `x` (1000×600 px plus the legend). `log_y`: logarithmic y axis.
pub fn plot_lines(path: &Path, title: &str, x: &[f64], x_label: &str, y_label: &str, series: &[Series], log_y: bool) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if x.is_empty() || series.is_empty() {
        return Err(bad("nothing to plot".into()));
    }
    if let Some(s) = series.iter().find(|s| s.y.len() != x.len()) {
        return Err(bad(format!("series '{}' has {} values for {} points", s.label, s.y.len(), x.len())));
    }
    // On a log axis the curves are drawn in log10(y).
    let tr = |v: f64| if log_y { if v > 0.0 && v.is_finite() { v.log10() } else { f64::NAN } } else { v };
    let (xmin, xmax) = x.iter().copied().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !xmin.is_finite() {
        return Err(bad("x has no finite values".into()));
    }
    let (ymin, ymax) = series.iter().flat_map(|s| s.y.iter().copied()).map(tr).filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !ymin.is_finite() {
        return Err(bad(if log_y { "no positive finite values to plot on a log axis".into() } else { "no finite values to plot".into() }));
    }
    let integer_x = x.iter().all(|v| !v.is_finite() || v.fract() == 0.0);
    let (xmin, xmax) = if xmax > xmin {
        (xmin, xmax)
    } else if integer_x {
        (xmin - 1.0, xmin + 1.0)
    } else {
        (xmin - 0.5, xmin + 0.5)
    };
    let ya = if log_y {
        // Whole decades, with room above the largest value so that a curve at the top
        // (a doping level) is not drawn on the frame.
        let hi = (ymax + 0.15).ceil();
        let lo = (ymin - 0.15).floor().max(hi - MAX_DECADES).min(hi - 1.0);
        Axis::log(lo, hi, y_label)
    } else {
        let m = if ymax > ymin { 0.05 * (ymax - ymin) } else { 0.5 * ymax.abs().max(1e-3) };
        Axis::linear(ymin - m, ymax + m, 8, false, y_label)
    };
    let xa = Axis::linear(xmin, xmax, 10, integer_x, x_label);

    let dots = integer_x && x.len() <= 50;
    let dashes = [Dash::Dashed, Dash::Dotted, Dash::DashDot];
    let mut k_dashed = 0;
    let entries: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let dash = if s.dashed {
                k_dashed += 1;
                dashes[(k_dashed - 1) % dashes.len()]
            } else {
                Dash::Solid
            };
            // discrete points (iterations): a dot on each, so that every step shows
            let marker = if dots && !s.dashed { Marker::Dot } else { Marker::None };
            LegendEntry { label: s.label.clone(), colour: COLOURS[k % COLOURS.len()], width: 2, dash, marker }
        })
        .collect();

    ensure_font()?;
    let perr = |m: String| QdError::Internal(format!("drawing plot {name}: {m}"));
    // The legend column: measured with the font (an upper estimate sizes the image).
    let chars = series.iter().map(|s| s.label.chars().count()).max().unwrap_or(0) as u32;
    let root = BitMapBackend::new(path, (1000 + 80 + 11 * chars, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(e.to_string()))?;
    let lw = legend_width(&root, &entries).map_err(perr)?;
    let (w, _) = root.dim_in_pixel();
    let (left, right) = root.split_horizontally(w - lw);
    let mut chart = line_chart(&left, title, "", &xa, &ya).map_err(perr)?;
    for (s, en) in series.iter().zip(&entries) {
        let pts = x.iter().zip(s.y).map(|(&xv, &yv)| (xv, tr(yv)));
        draw_curve(&chart, pts.clone(), en.colour, en.width, en.dash).map_err(perr)?;
        if en.marker == Marker::Dot {
            let inside = |&(a, b): &(f64, f64)| a.is_finite() && b.is_finite() && a >= xa.lo && a <= xa.hi && b >= ya.lo && b <= ya.hi;
            chart.draw_series(pts.filter(inside).map(|p| Circle::new(p, 4, en.colour.filled()))).map_err(|e| perr(e.to_string()))?;
        }
    }
    draw_legend(&right, chart.plotting_area().get_base_pixel().1, &entries).map_err(perr)?;
    root.present().map_err(|e| perr(e.to_string()))?;
    Ok(())
}
