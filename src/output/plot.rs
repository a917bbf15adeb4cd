//! PNG plots (plotters' bitmap backend, with DejaVu Sans embedded from `assets/`).
//!
//! - [`plot_1d_states`]: a band-edge profile with the bound states' densities drawn
//!   at their energies (the textbook quantum-well picture).
//! - [`plot_panels`]: a grid of heat maps (slices of 2D/3D fields), each with its own
//!   viridis colour scale and colour bar.
//!
//! Non-finite values never panic: lines are broken at them, heat-map cells show grey.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::error::{QdError, Result};

static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

/// The embedded font's family name, for other plot modules.
pub(crate) const FONT_NAME: &str = FONT;

/// Register the embedded font (once), for other plot modules.
pub(crate) fn ensure_font_pub() -> Result<()> {
    ensure_font()
}

fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()) {
        Ok(())
    } else {
        Err(QdError::Internal("the embedded DejaVu Sans font failed to load".into()))
    }
}

fn plot_err<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> QdError + '_ {
    move |e| QdError::Internal(format!("drawing plot {}: {e}", path.display()))
}

/// Line colours (matplotlib's tab10) for the states.
const STATE_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
];

/// Plots the band edge (black) against x and each state's probability density at its
/// energy: `states` holds `(E_n in eV, |ψ_n|² sampled on x_nm)`. Densities are drawn
/// with their baseline at `E_n` (thin dashed grey line) and scaled together so that
/// the largest peak is 0.6 × the smallest level spacing (10 % of the energy window
/// for a single state). 1000×700 px.
pub fn plot_1d_states(
    path: &Path,
    title: &str,
    x_nm: &[f64],
    band_edge_ev: &[f64],
    states: &[(f64, Vec<f64>)],
    energy_label: &str,
) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if x_nm.is_empty() {
        return Err(bad("no grid points to plot".into()));
    }
    if band_edge_ev.len() != x_nm.len() {
        return Err(bad(format!(
            "band edge has {} values for {} grid points",
            band_edge_ev.len(),
            x_nm.len()
        )));
    }
    for (n, (_, d)) in states.iter().enumerate() {
        if d.len() != x_nm.len() {
            return Err(bad(format!(
                "state {n} has {} values for {} grid points",
                d.len(),
                x_nm.len()
            )));
        }
    }
    let (mut xmin, mut xmax) =
        finite_range(x_nm.iter().copied()).ok_or_else(|| bad("x has no finite values".into()))?;
    if xmax <= xmin {
        xmin -= 0.5;
        xmax += 0.5;
    }
    // Only states with a finite energy are drawn.
    let shown: Vec<(usize, f64, &[f64], f64)> = states
        .iter()
        .enumerate()
        .filter(|(_, (e, _))| e.is_finite())
        .map(|(n, (e, d))| {
            let peak = d.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
            (n, *e, d.as_slice(), peak)
        })
        .collect();
    let band = finite_range(band_edge_ev.iter().copied());
    let levels = finite_range(shown.iter().map(|s| s.1));
    let (lo_all, hi_all) = match (band, levels) {
        (Some(b), Some(l)) => (b.0.min(l.0), b.1.max(l.1)),
        (Some(b), None) => b,
        (None, Some(l)) => l,
        (None, None) => return Err(bad("neither the band edge nor any state is finite".into())),
    };
    let mut window = hi_all - lo_all;
    if window <= 0.0 {
        window = (0.1 * hi_all.abs()).max(0.1);
    }
    let mut es: Vec<f64> = shown.iter().map(|s| s.1).collect();
    es.sort_by(|a, b| a.total_cmp(b));
    let min_spacing = es
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > 1e-6 * window)
        .fold(f64::INFINITY, f64::min);
    let target_peak = if min_spacing.is_finite() { 0.6 * min_spacing } else { 0.1 * window };
    let max_peak = shown.iter().map(|s| s.3).fold(0.0, f64::max);
    let scale = if max_peak > 0.0 { target_peak / max_peak } else { 0.0 };

    let top_states = shown.iter().map(|s| s.1 + scale * s.3).fold(f64::NEG_INFINITY, f64::max);
    let mut top = match band {
        Some((_, bmax)) if top_states.is_finite() => top_states.min(bmax),
        Some((_, bmax)) => bmax,
        None => top_states,
    };
    if top <= lo_all {
        top = if top_states > lo_all { top_states } else { lo_all + window };
    }
    let margin = 0.05 * (top - lo_all);
    let (ylo, yhi) = (lo_all - margin, top + margin);

    ensure_font()?;
    let perr = plot_err(path);
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(&perr)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 30))
        .margin(20)
        .x_label_area_size(65)
        .y_label_area_size(95)
        .build_cartesian_2d(xmin..xmax, ylo..yhi)
        .map_err(&perr)?;
    let xfmt = tick_formatter(xmax - xmin);
    let yfmt = tick_formatter(yhi - ylo);
    chart
        .configure_mesh()
        .x_desc("x (nm)")
        .y_desc(energy_label)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 24))
        .bold_line_style(BLACK.mix(0.08))
        .max_light_lines(0)
        .draw()
        .map_err(&perr)?;

    let clip = ClipRect { x0: xmin, x1: xmax, y0: ylo, y1: yhi };
    let grey = RGBColor(150, 150, 150);
    for &(_, e, _, _) in &shown {
        if e > ylo && e < yhi {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(xmin, e), (xmax, e)],
                    6,
                    5,
                    ShapeStyle::from(&grey).stroke_width(1),
                ))
                .map_err(&perr)?;
        }
    }
    for seg in clip.polylines(x_nm.iter().copied().zip(band_edge_ev.iter().copied())) {
        chart
            .draw_series(LineSeries::new(seg, BLACK.stroke_width(3)))
            .map_err(&perr)?;
    }
    let unit = energy_unit(energy_label);
    let legend = shown.len() <= 12;
    for &(n, e, d, _) in &shown {
        let colour = STATE_COLOURS[n % STATE_COLOURS.len()];
        let pts = x_nm.iter().zip(d).map(|(&x, &v)| (x, e + scale * v));
        for (k, seg) in clip.polylines(pts).into_iter().enumerate() {
            let s = chart
                .draw_series(LineSeries::new(seg, colour.stroke_width(2)))
                .map_err(&perr)?;
            if legend && k == 0 {
                s.label(format!("E{n} = {} {unit}", fmt_energy(e))).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
                });
            }
        }
    }
    if legend && !shown.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .margin(12)
            .label_font((FONT, 18))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(&perr)?;
    }
    root.present().map_err(&perr)?;
    Ok(())
}

/// Energy levels against a swept parameter (`qdsim-gpu sweep`): one line with markers per
/// state index, `levels[n][i]` the energy of state n at `x[i]` (NaN where a point has no
/// such state: the line breaks there). Points where `flagged[i]` (not converged) get a
/// black cross on every level. 1000×700 px.
pub fn plot_levels(
    path: &Path,
    title: &str,
    x_label: &str,
    energy_label: &str,
    x: &[f64],
    levels: &[Vec<f64>],
    flagged: &[bool],
) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if x.is_empty() {
        return Err(bad("no points to plot".into()));
    }
    if let Some(n) = levels.iter().position(|l| l.len() != x.len()) {
        return Err(bad(format!("level {n} has {} values for {} points", levels[n].len(), x.len())));
    }
    let (mut xmin, mut xmax) = finite_range(x.iter().copied()).ok_or_else(|| bad("the parameter has no finite values".into()))?;
    if xmax <= xmin {
        xmin -= 0.5;
        xmax += 0.5;
    }
    let (mut ylo, mut yhi) = finite_range(levels.iter().flatten().copied()).ok_or_else(|| bad("no finite energy to plot".into()))?;
    if yhi <= ylo {
        ylo -= 0.05;
        yhi += 0.05;
    }
    let (xm, ym) = (0.03 * (xmax - xmin), 0.05 * (yhi - ylo));
    let (xmin, xmax, ylo, yhi) = (xmin - xm, xmax + xm, ylo - ym, yhi + ym);
    ensure_font()?;
    let perr = plot_err(path);
    let root = BitMapBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(&perr)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 30))
        .margin(20)
        .x_label_area_size(65)
        .y_label_area_size(95)
        .build_cartesian_2d(xmin..xmax, ylo..yhi)
        .map_err(&perr)?;
    let xfmt = tick_formatter(xmax - xmin);
    let yfmt = tick_formatter(yhi - ylo);
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(energy_label)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 24))
        .bold_line_style(BLACK.mix(0.08))
        .max_light_lines(0)
        .draw()
        .map_err(&perr)?;
    let clip = ClipRect { x0: xmin, x1: xmax, y0: ylo, y1: yhi };
    let legend = levels.len() <= 12;
    for (n, l) in levels.iter().enumerate() {
        let colour = STATE_COLOURS[n % STATE_COLOURS.len()];
        let pts: Vec<(f64, f64)> = x.iter().copied().zip(l.iter().copied()).collect();
        for (k, seg) in clip.polylines(pts.iter().copied()).into_iter().enumerate() {
            let s = chart.draw_series(LineSeries::new(seg, colour.stroke_width(2))).map_err(&perr)?;
            if legend && k == 0 {
                s.label(format!("state {n}"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
            }
        }
        let dots = pts.iter().filter(|(a, b)| a.is_finite() && b.is_finite()).map(|&p| Circle::new(p, 4, colour.filled()));
        chart.draw_series(dots).map_err(&perr)?;
        let crosses = pts
            .iter()
            .zip(flagged)
            .filter(|((a, b), &f)| f && a.is_finite() && b.is_finite())
            .map(|(&p, _)| Cross::new(p, 8, BLACK.stroke_width(2)));
        chart.draw_series(crosses).map_err(&perr)?;
    }
    if flagged.iter().any(|&f| f) {
        chart
            .draw_series(std::iter::empty::<Cross<(f64, f64), i32>>())
            .map_err(&perr)?
            .label("not converged")
            .legend(|(x, y)| Cross::new((x + 12, y), 8, BLACK.stroke_width(2)));
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(12)
            .label_font((FONT, 18))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(&perr)?;
    }
    root.present().map_err(&perr)?;
    Ok(())
}

/// One heat map of [`plot_panels`].
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub nx: usize,
    pub ny: usize,
    /// Physical extent of the panel along its horizontal axis (lower edge of the first
    /// cell to upper edge of the last), nm.
    pub x_range_nm: (f64, f64),
    /// Physical extent along the vertical axis, nm.
    pub y_range_nm: (f64, f64),
    pub x_label: String,
    pub y_label: String,
    /// `nx*ny` values, x fastest (`values[i + nx*j]`); j = 0 is drawn at the bottom.
    pub values: Vec<f64>,
}

const PANEL_W: u32 = 400;
const PANEL_H: u32 = 360;
const TITLE_H: u32 = 50;
const CBAR_W: i32 = 100; // gap + bar + tick labels, right of each heat map
const YLAB: i32 = 62;
const XLAB: i32 = 48;
const PANEL_CAPTION: i32 = 32;

/// A grid of heat maps (up to 3 columns, about 400×360 px each), each with its own
/// viridis colour scale and a colour bar labelled with its min and max. Each map's
/// aspect ratio follows its physical extents unless that would make it thinner than a
/// third of the room available. Non-finite values are drawn grey.
pub fn plot_panels(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if panels.is_empty() {
        return Err(bad("no panels to plot".into()));
    }
    for (k, p) in panels.iter().enumerate() {
        if p.nx == 0 || p.ny == 0 {
            return Err(bad(format!("panel {k} ('{}') is empty ({}×{})", p.title, p.nx, p.ny)));
        }
        if p.values.len() != p.nx * p.ny {
            return Err(bad(format!(
                "panel {k} ('{}') has {} values for {}×{} cells",
                p.title,
                p.values.len(),
                p.nx,
                p.ny
            )));
        }
        for (axis, (a, b)) in [("x", p.x_range_nm), ("y", p.y_range_nm)] {
            if !(a.is_finite() && b.is_finite() && b > a) {
                return Err(bad(format!("panel {k} ('{}') has a bad {axis} range {a}..{b}", p.title)));
            }
        }
    }
    ensure_font()?;
    let perr = plot_err(path);
    let cols = panels.len().min(3);
    let rows = panels.len().div_ceil(cols);
    let root =
        BitMapBackend::new(path, (cols as u32 * PANEL_W, TITLE_H + rows as u32 * PANEL_H))
            .into_drawing_area();
    root.fill(&WHITE).map_err(&perr)?;
    // Figure title, shrunk to fit the width (a single panel is only 400 px wide).
    let mut tsize = 28.0;
    while tsize > 12.0 {
        let style = TextStyle::from((FONT, tsize).into_font());
        let (tw, _) = root.estimate_text_size(title, &style).map_err(&perr)?;
        if tw + 16 <= cols as u32 * PANEL_W {
            break;
        }
        tsize -= 1.0;
    }
    let body = root.titled(title, (FONT, tsize)).map_err(&perr)?;
    let areas = body.split_evenly((rows, cols));
    for (p, area) in panels.iter().zip(areas) {
        draw_panel(p, &area)
            .map_err(|m| QdError::Internal(format!("drawing plot {}: {m}", path.display())))?;
    }
    root.present().map_err(&perr)?;
    Ok(())
}

type AreaResult = std::result::Result<(), String>;

fn draw_panel(p: &Panel, area: &DrawingArea<BitMapBackend<'_>, Shift>) -> AreaResult {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let area = area.margin(4, 4, 6, 6);
    // Panel title, shrunk to fit the panel's width.
    let (aw, ah) = area.dim_in_pixel();
    let mut tsize = 19.0;
    while tsize > 10.0 {
        let (tw, _) = area.estimate_text_size(&p.title, &TextStyle::from((FONT, tsize).into_font())).map_err(e)?;
        if tw + 8 <= aw {
            break;
        }
        tsize -= 1.0;
    }
    let tstyle = TextStyle::from((FONT, tsize).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(p.title.clone(), (aw as i32 / 2, 4), tstyle)).map_err(e)?;

    // Room for the plot box itself.
    let avail_w = aw as i32 - YLAB - CBAR_W - 8;
    let avail_h = ah as i32 - PANEL_CAPTION - XLAB - 8;
    let (lx, ly) = (p.x_range_nm.1 - p.x_range_nm.0, p.y_range_nm.1 - p.y_range_nm.0);
    let (mut w, mut h) = (avail_w as f64, avail_h as f64);
    if lx / ly > w / h {
        h = w * ly / lx;
    } else {
        w = h * lx / ly;
    }
    let w = (w.round() as i32).clamp(avail_w / 3, avail_w);
    let h = (h.round() as i32).clamp(avail_h / 3, avail_h);
    let extra_x = avail_w - w;
    let extra_y = avail_h - h;
    let sub = area.margin(
        PANEL_CAPTION + extra_y / 2,
        extra_y - extra_y / 2 + 4,
        extra_x / 2 + 4,
        CBAR_W + extra_x - extra_x / 2 + 4,
    );
    let (xr, yr) = (p.x_range_nm, p.y_range_nm);
    let mut chart = ChartBuilder::on(&sub)
        .x_label_area_size(XLAB)
        .y_label_area_size(YLAB)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
        .map_err(e)?;

    let (vmin, vmax) = finite_range(p.values.iter().copied()).unwrap_or((0.0, 1.0));
    let colour_of = |v: f64| -> RGBColor {
        if !v.is_finite() {
            RGBColor(190, 190, 190)
        } else if vmax > vmin {
            viridis((v - vmin) / (vmax - vmin))
        } else {
            viridis(0.5)
        }
    };
    // Heat map: one pixel at a time, nearest cell.
    let (px, py) = chart.plotting_area().get_pixel_range();
    let screen = area.use_screen_coord();
    let (pw, ph) = ((px.end - px.start).max(1) as f64, (py.end - py.start).max(1) as f64);
    for y in py.clone() {
        let fy = (y - py.start) as f64 + 0.5;
        let j = (((1.0 - fy / ph) * p.ny as f64) as usize).min(p.ny - 1);
        for x in px.clone() {
            let fx = (x - px.start) as f64 + 0.5;
            let i = ((fx / pw * p.nx as f64) as usize).min(p.nx - 1);
            screen.draw_pixel((x, y), &colour_of(p.values[i + p.nx * j])).map_err(e)?;
        }
    }
    let xfmt = tick_formatter(xr.1 - xr.0);
    let yfmt = tick_formatter(yr.1 - yr.0);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(e)?;
    screen
        .draw(&Rectangle::new([(px.start, py.start), (px.end, py.end)], BLACK.stroke_width(1)))
        .map_err(e)?;

    // Colour bar.
    let bx0 = px.end + 12;
    let bx1 = bx0 + 16;
    let steps = (py.end - py.start).max(1);
    for s in 0..steps {
        let t = 1.0 - (s as f64 + 0.5) / steps as f64;
        let c = if vmax > vmin { viridis(t) } else { viridis(0.5) };
        screen
            .draw(&Rectangle::new([(bx0, py.start + s), (bx1, py.start + s + 1)], c.filled()))
            .map_err(e)?;
    }
    screen
        .draw(&Rectangle::new([(bx0, py.start), (bx1, py.end)], BLACK.stroke_width(1)))
        .map_err(e)?;
    let lstyle = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let (tmax, tmin) = if finite_range(p.values.iter().copied()).is_some() {
        (fmt_value(vmax), fmt_value(vmin))
    } else {
        ("n/a".to_string(), "n/a".to_string())
    };
    screen.draw(&Text::new(tmax, (bx1 + 4, py.start + 6), lstyle.clone())).map_err(e)?;
    screen.draw(&Text::new(tmin, (bx1 + 4, py.end - 6), lstyle)).map_err(e)?;
    Ok(())
}

/// matplotlib's viridis at 11 evenly spaced points, interpolated linearly.
fn viridis(t: f64) -> RGBColor {
    const V: [(u8, u8, u8); 11] = [
        (0x44, 0x01, 0x54),
        (0x48, 0x24, 0x75),
        (0x41, 0x44, 0x87),
        (0x35, 0x5f, 0x8d),
        (0x2a, 0x78, 0x8e),
        (0x21, 0x91, 0x8c),
        (0x22, 0xa8, 0x84),
        (0x44, 0xbf, 0x70),
        (0x7a, 0xd1, 0x51),
        (0xbd, 0xdf, 0x26),
        (0xfd, 0xe7, 0x25),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let f = t * 10.0;
    let k = (f.floor() as usize).min(9);
    let u = f - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * u).round() as u8;
    let (a, b) = (V[k], V[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// (min, max) over the finite values, or None.
fn finite_range(it: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = it
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo <= hi).then_some((lo, hi))
}

/// Tick labels with just enough decimals for ticks spaced about span/8 apart.
fn tick_formatter(span: f64) -> impl Fn(&f64) -> String {
    let step = (span / 8.0).abs();
    let dec = if step > 0.0 && step.is_finite() {
        (-(step.log10().floor())).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    move |v: &f64| {
        let s = format!("{:.*}", dec, v);
        // Avoid "-0.00".
        if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
            s.trim_start_matches('-').to_string()
        } else {
            s
        }
    }
}

/// Colour-bar value: 3 significant digits, scientific for very large/small values.
fn fmt_value(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-2..1e4).contains(&a) {
        format!("{:.2e}", v)
    } else {
        let dec = (2 - a.log10().floor() as i32).clamp(0, 4) as usize;
        format!("{:.*}", dec, v)
    }
}

fn fmt_energy(e: f64) -> String {
    if e != 0.0 && (e.abs() < 1e-3 || e.abs() >= 1e4) {
        format!("{:.3e}", e)
    } else {
        format!("{:.4}", e)
    }
}

/// The unit in the last parentheses of an axis label ("Energy (eV)" → "eV").
fn energy_unit(label: &str) -> &str {
    match (label.rfind('('), label.rfind(')')) {
        (Some(a), Some(b)) if b > a + 1 => &label[a + 1..b],
        _ => "eV",
    }
}

/// The plot window, for clipping polylines in data coordinates.
struct ClipRect {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl ClipRect {
    /// Splits a polyline into the pieces inside the window, breaking at non-finite points.
    fn polylines(&self, pts: impl Iterator<Item = (f64, f64)>) -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut cur: Vec<(f64, f64)> = Vec::new();
        let mut prev: Option<(f64, f64)> = None;
        for p in pts {
            if !(p.0.is_finite() && p.1.is_finite()) {
                prev = None;
                continue;
            }
            match prev {
                None => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    if self.contains(p) {
                        cur.push(p);
                    }
                }
                Some(q) => match self.clip(q, p) {
                    Some((a, b)) => {
                        if cur.last() != Some(&a) {
                            if !cur.is_empty() {
                                out.push(std::mem::take(&mut cur));
                            }
                            cur.push(a);
                        }
                        cur.push(b);
                    }
                    None => {
                        if !cur.is_empty() {
                            out.push(std::mem::take(&mut cur));
                        }
                    }
                },
            }
            prev = Some(p);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out.retain(|s| s.len() >= 2);
        out
    }

    fn contains(&self, p: (f64, f64)) -> bool {
        p.0 >= self.x0 && p.0 <= self.x1 && p.1 >= self.y0 && p.1 <= self.y1
    }

    /// Liang–Barsky clipping of the segment a→b.
    fn clip(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.0 - self.x0),
            (dx, self.x1 - a.0),
            (-dy, a.1 - self.y0),
            (dy, self.y1 - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if t0 > t1 {
            return None;
        }
        let at = |t: f64| if t == 0.0 { a } else if t == 1.0 { b } else { (a.0 + t * dx, a.1 + t * dy) };
        Some((at(t0), at(t1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("qdsim-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn png_ok(p: &Path, min_bytes: u64) {
        let b = std::fs::read(p).unwrap();
        assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n");
        assert!(b.len() as u64 > min_bytes, "{} is only {} bytes", p.display(), b.len());
    }

    /// Finite square well of depth 0.3 eV and width 10 nm, with sin/cos-like states.
    fn well() -> (Vec<f64>, Vec<f64>, Vec<(f64, Vec<f64>)>) {
        let n = 401;
        let x: Vec<f64> = (0..n).map(|i| -20.0 + 40.0 * i as f64 / (n - 1) as f64).collect();
        let v: Vec<f64> = x.iter().map(|&x| if x.abs() < 5.0 { 0.0 } else { 0.3 }).collect();
        let states = (0..3)
            .map(|k| {
                let e = 0.03 * ((k + 1) * (k + 1)) as f64;
                let psi: Vec<f64> = x
                    .iter()
                    .map(|&x| {
                        let q = (k + 1) as f64 * std::f64::consts::PI * (x + 6.0) / 12.0;
                        if x.abs() < 6.0 { q.sin().powi(2) / 6.0 } else { 0.0 }
                    })
                    .collect();
                (e, psi)
            })
            .collect();
        (x, v, states)
    }

    #[test]
    fn plots_1d_states() {
        let (x, v, states) = well();
        let p = out_dir().join("states.png");
        plot_1d_states(&p, "Finite quantum well, GaAs/AlGaAs", &x, &v, &states, "Energy (eV)").unwrap();
        png_ok(&p, 10_000);
    }

    #[test]
    fn plots_1d_with_non_finite_and_one_state() {
        let (x, mut v, mut states) = well();
        v[10] = f64::NAN;
        v[20] = f64::INFINITY;
        states.truncate(1);
        states[0].1[200] = f64::NAN;
        let p = out_dir().join("states_nan.png");
        plot_1d_states(&p, "one state", &x, &v, &states, "Energy (eV)").unwrap();
        png_ok(&p, 5_000);
        // No states at all, and a state with NaN energy.
        let p = out_dir().join("states_none.png");
        plot_1d_states(&p, "none", &x, &v, &[(f64::NAN, vec![0.0; x.len()])], "E (eV)").unwrap();
        png_ok(&p, 5_000);
    }

    #[test]
    fn empty_or_mismatched_input_is_an_error() {
        let p = out_dir().join("never.png");
        assert!(plot_1d_states(&p, "t", &[], &[], &[], "E").is_err());
        assert!(plot_1d_states(&p, "t", &[1.0, 2.0], &[0.0], &[], "E").is_err());
        assert!(plot_1d_states(&p, "t", &[f64::NAN], &[0.0], &[], "E").is_err());
        assert!(plot_panels(&p, "t", &[]).is_err());
        let mut bad = panel("b", 3, 3, (0.0, 1.0), (0.0, 1.0), |_, _| 0.0);
        bad.values.pop();
        assert!(plot_panels(&p, "t", &[bad]).is_err());
        assert!(!p.exists());
    }

    fn panel(title: &str, nx: usize, ny: usize, xr: (f64, f64), yr: (f64, f64), f: impl Fn(f64, f64) -> f64) -> Panel {
        let mut values = Vec::with_capacity(nx * ny);
        for j in 0..ny {
            for i in 0..nx {
                let x = xr.0 + (i as f64 + 0.5) / nx as f64 * (xr.1 - xr.0);
                let y = yr.0 + (j as f64 + 0.5) / ny as f64 * (yr.1 - yr.0);
                values.push(f(x, y));
            }
        }
        Panel {
            title: title.into(),
            nx,
            ny,
            x_range_nm: xr,
            y_range_nm: yr,
            x_label: "x (nm)".into(),
            y_label: "y (nm)".into(),
            values,
        }
    }

    #[test]
    fn plots_panels() {
        let g = |x: f64, y: f64| (-(x * x + y * y) / 50.0).exp();
        let mut panels = vec![
            panel("|ψ₀|² (nm⁻²), z = 0", 80, 80, (-20.0, 20.0), (-20.0, 20.0), g),
            panel("Conduction band edge (eV)", 120, 40, (-30.0, 30.0), (-10.0, 10.0), |x, y| {
                if x * x / 100.0 + y * y / 25.0 < 1.0 { 0.0 } else { 0.3 }
            }),
            panel("Potential (V)", 30, 90, (0.0, 10.0), (0.0, 30.0), |x, y| -1e-4 * x * y),
            panel("Constant, with NaN", 20, 20, (0.0, 5.0), (0.0, 5.0), |_, _| 1.0),
        ];
        panels[3].values[5] = f64::NAN;
        panels[0].values[0] = f64::INFINITY;
        let p = out_dir().join("panels.png");
        plot_panels(&p, "Quantum dot, lens-shaped InAs on GaAs", &panels).unwrap();
        png_ok(&p, 20_000);
        let p1 = out_dir().join("panel1.png");
        plot_panels(&p1, "A single panel with a rather long figure title for its width", &panels[..1]).unwrap();
        png_ok(&p1, 5_000);
        let all_nan = Panel { values: vec![f64::NAN; 400], ..panels[3].clone() };
        let p2 = out_dir().join("panel_nan.png");
        plot_panels(&p2, "all NaN", &[all_nan]).unwrap();
        png_ok(&p2, 2_000);
    }

    #[test]
    fn clipping() {
        let c = ClipRect { x0: 0.0, x1: 1.0, y0: 0.0, y1: 1.0 };
        let segs = c.polylines(vec![(-1.0, 0.5), (0.5, 0.5), (2.0, 0.5)].into_iter());
        assert_eq!(segs, vec![vec![(0.0, 0.5), (0.5, 0.5), (1.0, 0.5)]]);
        let segs = c.polylines(vec![(0.1, 0.1), (0.2, 2.0), (0.3, 0.1), (f64::NAN, 0.0), (0.5, 0.5), (0.6, 0.6)].into_iter());
        assert_eq!(segs.len(), 3);
    }
}
