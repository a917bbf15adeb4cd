//! Line plots of several named series against one axis (band diagrams, carrier densities,
//! self-consistent convergence), linear or logarithmic in y.

use std::path::Path;

use plotters::prelude::*;

use super::plot::{ensure_font_pub as ensure_font, FONT_NAME as FONT};
use crate::error::{QdError, Result};

const COLOURS: [RGBColor; 6] = [RGBColor(0, 0, 0), RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(255, 127, 14), RGBColor(148, 103, 189)];

/// One curve: a label and one y per x (non-finite values, and non-positive ones on a log
/// axis, break the line).
pub struct Series<'a> {
    pub label: String,
    pub y: &'a [f64],
    /// Dashed (e.g. Fermi levels).
    pub dashed: bool,
}

/// Plot `series` against `x` (1000×600 px). `log_y`: logarithmic y axis.
pub fn plot_lines(path: &Path, title: &str, x: &[f64], x_label: &str, y_label: &str, series: &[Series], log_y: bool) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if x.is_empty() || series.is_empty() {
        return Err(bad("nothing to plot".into()));
    }
    let ok = |v: f64| v.is_finite() && (!log_y || v > 0.0);
    let (xmin, xmax) = x.iter().copied().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (mut ymin, mut ymax) = series.iter().flat_map(|s| s.y.iter().copied()).filter(|&v| ok(v)).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !ymin.is_finite() {
        return Err(bad("no finite values to plot".into()));
    }
    let (xmin, xmax) = if xmax > xmin { (xmin, xmax) } else { (xmin - 0.5, xmin + 0.5) };
    if log_y {
        ymin = ymin.max(ymax * 1e-12);
        let (lo, hi) = (ymin.log10().floor(), ymax.log10().ceil().max(ymin.log10().floor() + 1.0));
        ymin = 10f64.powf(lo);
        ymax = 10f64.powf(hi);
    } else {
        let m = if ymax > ymin { 0.05 * (ymax - ymin) } else { 0.5 };
        ymin -= m;
        ymax += m;
    }
    ensure_font()?;
    let perr = |e: &dyn std::fmt::Display| QdError::Internal(format!("drawing plot {name}: {e}"));
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.caption(title, (FONT, 28)).margin(20).x_label_area_size(60).y_label_area_size(100);
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .label_style((FONT, 18))
                .axis_desc_style((FONT, 22))
                .bold_line_style(BLACK.mix(0.08))
                .max_light_lines(0)
                .draw()
                .map_err(|e| perr(&e))?;
            for (k, s) in series.iter().enumerate() {
                let colour = COLOURS[k % COLOURS.len()];
                let style = colour.stroke_width(if s.dashed { 1 } else { 2 });
                let mut segs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for (&xv, &yv) in x.iter().zip(s.y) {
                    if ok(yv) && xv.is_finite() {
                        segs.last_mut().map(|l| l.push((xv, yv.clamp(ymin, ymax))));
                    } else if segs.last().is_some_and(|l| !l.is_empty()) {
                        segs.push(Vec::new());
                    }
                }
                let mut first = true;
                for seg in segs.into_iter().filter(|s| !s.is_empty()) {
                    let drawn = if s.dashed {
                        chart.draw_series(DashedLineSeries::new(seg, 8, 6, style)).map_err(|e| perr(&e))?
                    } else {
                        chart.draw_series(LineSeries::new(seg, style)).map_err(|e| perr(&e))?
                    };
                    if first {
                        drawn.label(s.label.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
                        first = false;
                    }
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .label_font((FONT, 18))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| perr(&e))?;
        }};
    }
    if log_y {
        draw!(builder.build_cartesian_2d(xmin..xmax, (ymin..ymax).log_scale()).map_err(|e| perr(&e))?);
    } else {
        draw!(builder.build_cartesian_2d(xmin..xmax, ymin..ymax).map_err(|e| perr(&e))?);
    }
    root.present().map_err(|e| perr(&e))?;
    Ok(())
}
