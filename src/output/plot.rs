//! PNG plots (plotters' bitmap backend, with DejaVu Sans embedded from `assets/`).
//!
//! - [`plot_1d_states`]: a band-edge profile with the states' densities drawn at their
//!   energies (the textbook quantum-well picture), the |ψ|² scale stated on the plot.
//! - [`plot_levels`]: energy levels against a swept parameter.
//! - [`plot_panels`]: a grid of heat maps (slices of 2D/3D fields), each with its own
//!   colour scale (linear, logarithmic or diverging) and a colour bar with ticks and unit;
//!   [`structure_panels`] builds the slices of a potential and every state, zoomed to
//!   where the states are.
//!
//! Axes get "nice" ticks (1-2-5 steps, integers on integer axes, decades on log axes,
//! labelled 10ⁿ, a common ×10ⁿ factor instead of long decimals), label areas sized to
//! their labels, and the legend beside the plot so it never hides data.
//! Non-finite values never panic: lines are broken at them, heat-map cells show grey.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::error::{QdError, Result};
use crate::grid::Grid;

static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

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

// ---------------------------------------------------------------------------------------
// Ticks and numbers.

/// The "nice" step (1, 2 or 5 × 10^k) nearest above `raw`; at least 1 when `integer`.
pub(crate) fn nice_step(raw: f64, integer: bool) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    if integer && raw <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|&s| s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * mag);
    if integer {
        step.round().max(1.0)
    } else {
        step
    }
}

/// Ticks at multiples of a nice step inside [lo, hi], about `target` of them (integers
/// only when `integer`). A degenerate range gives its single value.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    if hi <= lo {
        return vec![if integer { lo.round() } else { lo }];
    }
    let step = nice_step((hi - lo) / target.max(1) as f64, integer);
    let eps = 1e-9 * step;
    let (k0, k1) = (((lo - eps) / step).ceil() as i64, ((hi + eps) / step).floor() as i64);
    (k0..=k1)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < eps {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Decade ticks on a log axis whose range is `lo..hi` in log10 units: integer exponents,
/// every decade or every 2nd, 3rd, 5th, ... so that there are at most about `target`.
pub(crate) fn decade_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    let decades = (hi - lo).max(0.0);
    let step = [1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        .into_iter()
        .find(|&s| decades / s <= target.max(1) as f64)
        .unwrap_or_else(|| (decades / target.max(1) as f64).ceil());
    let (k0, k1) = ((lo / step - 1e-9).ceil() as i64, (hi / step + 1e-9).floor() as i64);
    (k0..=k1).map(|k| k as f64 * step).collect()
}

/// Decimals needed to tell ticks `step` apart (steps from [`nice_step`]).
pub(crate) fn step_decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 2;
    }
    (-(step.log10() + 1e-9).floor()).clamp(0.0, 12.0) as usize
}

/// `v` with `dec` decimals, a true minus sign, and no "-0".
pub(crate) fn fmt_fixed(v: f64, dec: usize) -> String {
    let s = format!("{:.*}", dec, v.abs());
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("\u{2212}{s}")
    } else {
        s
    }
}

/// Superscript digits (and minus) for an exponent: -15 → "⁻¹⁵".
pub(crate) fn superscript(n: i64) -> String {
    const D: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::new();
    if n < 0 {
        s.push('⁻');
    }
    for c in n.unsigned_abs().to_string().chars() {
        s.push(D[c as usize - '0' as usize]);
    }
    s
}

/// Subscript digits: 12 → "₁₂".
pub(crate) fn subscript(n: usize) -> String {
    n.to_string().chars().map(|c| char::from_u32(0x2080 + (c as u32 - '0' as u32)).unwrap_or(c)).collect()
}

/// A decade label: 15 → "10¹⁵".
pub(crate) fn fmt_decade(k: f64) -> String {
    format!("10{}", superscript(k.round() as i64))
}

/// The power of ten to factor out of a set of tick values so that their labels stay
/// short (0 when they read well as they are: largest magnitude in [0.01, 10⁴)).
pub(crate) fn common_exponent(ticks: &[f64]) -> i32 {
    let m = ticks.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 {
        return 0;
    }
    let e = (m.log10() + 1e-9).floor() as i32;
    if (-2..4).contains(&e) {
        0
    } else {
        e
    }
}

/// Labels for evenly spaced ticks, and the power of ten factored out of them (the axis
/// or colour bar says "×10ⁿ" when it is not 0).
pub(crate) fn tick_labels(ticks: &[f64]) -> (Vec<String>, i32) {
    let e = common_exponent(ticks);
    let f = 10f64.powi(e);
    let step = ticks.windows(2).map(|w| (w[1] - w[0]).abs()).fold(f64::INFINITY, f64::min);
    let dec = if step.is_finite() {
        step_decimals(step / f)
    } else {
        // one tick: enough decimals for 3 significant digits
        ticks.first().map(|v| (v / f).abs()).filter(|a| *a > 0.0).map(|a| (2 - a.log10().floor() as i32).clamp(0, 6) as usize).unwrap_or(0)
    };
    (ticks.iter().map(|v| fmt_fixed(v / f, dec)).collect(), e)
}

/// A number for a title or note: `sig` significant digits, ×10ⁿ outside [10⁻³, 10⁴).
pub(crate) fn fmt_sig(v: f64, sig: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let e = a.log10().floor() as i32;
    let sig = sig.max(1) as i32;
    if (-3..4).contains(&e) {
        fmt_fixed(v, (sig - 1 - e).max(0) as usize)
    } else {
        let mut m = v / 10f64.powi(e);
        let mut e = e;
        // rounding may give 10.0
        if format!("{:.*}", (sig - 1) as usize, m.abs()).starts_with("10") {
            m /= 10.0;
            e += 1;
        }
        format!("{}×10{}", fmt_fixed(m, (sig - 1) as usize), superscript(e as i64))
    }
}

/// An energy for a legend or title: 4 decimals (eV), ×10ⁿ for tiny or huge values.
fn fmt_energy(e: f64) -> String {
    if e != 0.0 && (e.abs() < 1e-3 || e.abs() >= 1e4) {
        fmt_sig(e, 4)
    } else {
        fmt_fixed(e, 4)
    }
}

/// The unit in the last parentheses of an axis label ("Energy (eV)" → "eV").
fn energy_unit(label: &str) -> &str {
    match (label.rfind('('), label.rfind(')')) {
        (Some(a), Some(b)) if b > a + 1 => label[a + 1..b].split(',').next().unwrap_or("eV"),
        _ => "eV",
    }
}

/// (min, max) over the finite values, or None.
pub(crate) fn finite_range(it: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = it
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo <= hi).then_some((lo, hi))
}

// ---------------------------------------------------------------------------------------
// Line charts: axes, legend, dashes (shared with `lines.rs`).

/// One axis of a line chart: its range, ticks and their labels, and its title.
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub labels: Vec<String>,
    pub desc: String,
}

impl Axis {
    /// A linear axis over lo..hi with nice ticks (integers only when `integer`); a common
    /// power of ten goes into the title as "×10ⁿ".
    pub(crate) fn linear(lo: f64, hi: f64, target: usize, integer: bool, desc: &str) -> Axis {
        let ticks = nice_ticks(lo, hi, target, integer);
        let (labels, e) = tick_labels(&ticks);
        let desc = if e != 0 { format!("{desc}  [×10{}]", superscript(e as i64)) } else { desc.to_string() };
        Axis { lo, hi, ticks, labels, desc }
    }

    /// A log axis: lo..hi are log10 of the data; ticks at decades, labelled 10ⁿ.
    pub(crate) fn log(lo: f64, hi: f64, desc: &str) -> Axis {
        let ticks = decade_ticks(lo, hi, 10);
        let labels = ticks.iter().map(|&k| fmt_decade(k)).collect();
        Axis { lo, hi, ticks, labels, desc: desc.to_string() }
    }

    fn label(&self, v: f64) -> String {
        let tol = 1e-6 * (self.hi - self.lo).abs().max(f64::MIN_POSITIVE);
        self.ticks.iter().position(|t| (t - v).abs() <= tol).map(|k| self.labels[k].clone()).unwrap_or_default()
    }
}

/// Line pattern of a curve (and of its legend sample).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Dash {
    Solid,
    Dashed,
    Dotted,
    DashDot,
}

impl Dash {
    /// (on, off) lengths in pixels, repeated; empty for solid.
    fn pattern(self) -> &'static [(i32, i32)] {
        match self {
            Dash::Solid => &[],
            Dash::Dashed => &[(12, 7)],
            Dash::Dotted => &[(3, 5)],
            Dash::DashDot => &[(12, 5), (3, 5)],
        }
    }
}

/// Marker drawn on a legend sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Marker {
    None,
    Dot,
    Cross,
}

/// One legend entry: its label and the style its curve is drawn in.
pub(crate) struct LegendEntry {
    pub label: String,
    pub colour: RGBColor,
    pub width: u32,
    pub dash: Dash,
    pub marker: Marker,
}

/// A linear f64 axis whose ticks (and grid lines) are exactly the given values.
#[derive(Clone, Debug)]
pub(crate) struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ticked {
    pub(crate) fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Ticked {
        Ticked { lo, hi, ticks }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.0 + limit.1) / 2;
        }
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(-10.0, 10.0);
        let t = if t.is_nan() { 0.0 } else { t };
        limit.0 + ((limit.1 - limit.0) as f64 * t + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

pub(crate) type LineChart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<Ticked, Ticked>>;

type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;

fn text_w(area: &Area<'_>, s: &str, size: f64) -> std::result::Result<u32, String> {
    area.estimate_text_size(s, &TextStyle::from((FONT, size).into_font())).map(|(w, _)| w).map_err(|e| e.to_string())
}

const LEGEND_FONT: f64 = 18.0;

/// Width of the legend column for `entries` (0 when there are none).
pub(crate) fn legend_width(area: &Area<'_>, entries: &[LegendEntry]) -> std::result::Result<u32, String> {
    if entries.is_empty() {
        return Ok(0);
    }
    let mut w = 0;
    for e in entries {
        w = w.max(text_w(area, &e.label, LEGEND_FONT)?);
    }
    Ok(w + 40 + 10 + 24)
}

/// A polyline in pixel coordinates with a dash pattern (the pattern runs on across
/// vertices, so curves with many short segments still show their dashes).
fn draw_dashed_px(area: &Area<'_>, pts: &[(i32, i32)], style: ShapeStyle, dash: Dash) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let pattern = dash.pattern();
    if pattern.is_empty() || pts.len() < 2 {
        if pts.len() >= 2 {
            area.draw(&PathElement::new(pts.to_vec(), style)).map_err(e)?;
        }
        return Ok(());
    }
    // Walk the polyline in arc length, emitting the "on" pieces.
    let cycle: Vec<(bool, f64)> = pattern.iter().flat_map(|&(on, off)| [(true, on as f64), (false, off as f64)]).collect();
    let (mut k, mut left) = (0usize, cycle[0].1);
    let mut cur: Vec<(i32, i32)> = Vec::new();
    for w in pts.windows(2) {
        let (a, b) = ((w[0].0 as f64, w[0].1 as f64), (w[1].0 as f64, w[1].1 as f64));
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let mut t = 0.0;
        while t < len {
            let take = left.min(len - t);
            let p0 = (a.0 + (b.0 - a.0) * t / len.max(1e-12), a.1 + (b.1 - a.1) * t / len.max(1e-12));
            t += take;
            left -= take;
            let p1 = (a.0 + (b.0 - a.0) * t / len.max(1e-12), a.1 + (b.1 - a.1) * t / len.max(1e-12));
            if cycle[k].0 {
                let (q0, q1) = ((p0.0.round() as i32, p0.1.round() as i32), (p1.0.round() as i32, p1.1.round() as i32));
                if cur.last() != Some(&q0) {
                    cur.push(q0);
                }
                cur.push(q1);
            }
            if left <= 1e-9 {
                if cycle[k].0 && cur.len() >= 2 {
                    area.draw(&PathElement::new(std::mem::take(&mut cur), style)).map_err(e)?;
                }
                cur.clear();
                k = (k + 1) % cycle.len();
                left = cycle[k].1;
            }
        }
    }
    if cur.len() >= 2 {
        area.draw(&PathElement::new(cur, style)).map_err(e)?;
    }
    Ok(())
}

/// Draw a curve (data coordinates) clipped to the chart's window, broken at non-finite
/// points, in the given colour, width and dash pattern.
pub(crate) fn draw_curve(chart: &LineChart<'_, '_>, pts: impl Iterator<Item = (f64, f64)>, colour: RGBColor, width: u32, dash: Dash) -> std::result::Result<(), String> {
    let (x, y) = (chart.x_range(), chart.y_range());
    let clip = ClipRect { x0: x.start, x1: x.end, y0: y.start, y1: y.end };
    let screen = chart.plotting_area().use_screen_coord();
    let style = colour.stroke_width(width);
    for seg in clip.polylines(pts) {
        let px: Vec<(i32, i32)> = seg.iter().map(|p| chart.backend_coord(p)).collect();
        draw_dashed_px(&screen, &px, style, dash)?;
    }
    Ok(())
}

/// Build a line chart on `area` with a title, an optional note line under it, and the
/// two axes (key points at their ticks, label areas sized to the labels).
pub(crate) fn line_chart<'a, 'b>(area: &'a Area<'b>, title: &str, note: &str, x: &Axis, y: &Axis) -> std::result::Result<LineChart<'a, 'b>, String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (aw, _) = area.dim_in_pixel();
    // Title, shrunk to fit.
    let mut tsize = 28.0;
    while tsize > 14.0 && text_w(area, title, tsize)? + 20 > aw {
        tsize -= 1.0;
    }
    let centre = Pos::new(HPos::Center, VPos::Top);
    area.draw(&Text::new(title.to_string(), (aw as i32 / 2, 10), TextStyle::from((FONT, tsize).into_font()).pos(centre))).map_err(e)?;
    let mut top = 10 + tsize as i32 + 10;
    if !note.is_empty() {
        let mut nsize = 17.0;
        while nsize > 10.0 && text_w(area, note, nsize)? + 20 > aw {
            nsize -= 1.0;
        }
        area.draw(&Text::new(note.to_string(), (aw as i32 / 2, top), TextStyle::from((FONT, nsize).into_font()).color(&RGBColor(70, 70, 70)).pos(centre))).map_err(e)?;
        top += nsize as i32 + 8;
    }
    let mut ylab = 0;
    for l in &y.labels {
        ylab = ylab.max(text_w(area, l, 20.0)?);
    }
    let mut chart = ChartBuilder::on(area)
        .margin_top(top + 6)
        .margin_right(24)
        .margin_left(10)
        .margin_bottom(10)
        .x_label_area_size(62)
        .y_label_area_size(ylab as i32 + 12 + 40)
        .build_cartesian_2d(Ticked::new(x.lo, x.hi, x.ticks.clone()), Ticked::new(y.lo, y.hi, y.ticks.clone()))
        .map_err(|e| e.to_string())?;
    let xf = |v: &f64| x.label(*v);
    let yf = |v: &f64| y.label(*v);
    chart
        .configure_mesh()
        .x_desc(x.desc.as_str())
        .y_desc(y.desc.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style((FONT, 20))
        .axis_desc_style((FONT, 22))
        .bold_line_style(BLACK.mix(0.08))
        .max_light_lines(0)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Draw the legend in `area` (the column right of the chart), its first row level with `top`.
pub(crate) fn draw_legend(area: &Area<'_>, top: i32, entries: &[LegendEntry]) -> std::result::Result<(), String> {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    if entries.is_empty() {
        return Ok(());
    }
    let row = 28;
    let (w, _) = area.dim_in_pixel();
    let h = row * entries.len() as i32 + 12;
    area.draw(&Rectangle::new([(2, top), (w as i32 - 12, top + h)], BLACK.mix(0.35).stroke_width(1))).map_err(e)?;
    let lstyle = TextStyle::from((FONT, LEGEND_FONT).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (k, en) in entries.iter().enumerate() {
        let y = top + 6 + row * k as i32 + row / 2;
        let style = en.colour.stroke_width(en.width.max(1));
        draw_dashed_px(area, &[(10, y), (46, y)], style, en.dash)?;
        match en.marker {
            Marker::None => {}
            Marker::Dot => area.draw(&Circle::new((28, y), 4, en.colour.filled())).map_err(e)?,
            Marker::Cross => area.draw(&Cross::new((28, y), 7, BLACK.stroke_width(2))).map_err(e)?,
        }
        area.draw(&Text::new(en.label.clone(), (54, y), lstyle.clone())).map_err(e)?;
    }
    Ok(())
}

/// A 1000 px wide chart plus a legend column: returns (chart area, legend area, width).
fn split_for_legend<'b>(root: &Area<'b>, entries: &[LegendEntry]) -> std::result::Result<(Area<'b>, Area<'b>), String> {
    let lw = legend_width(root, entries)?;
    let (w, _) = root.dim_in_pixel();
    Ok(root.split_horizontally(w - lw))
}

/// Width of the figure: 1000 px for the chart plus the legend's column.
fn figure_width(entries: &[LegendEntry]) -> u32 {
    // The legend is measured with the real font once the backend exists; estimate here
    // generously (DejaVu Sans at 18 px: about 10.5 px per character).
    let chars = entries.iter().map(|e| e.label.chars().count()).max().unwrap_or(0) as u32;
    if entries.is_empty() {
        1000
    } else {
        1000 + chars * 11 + 80
    }
}

/// The top of the plotting area in the root's pixels (to align the legend with it).
fn plot_top(chart: &LineChart<'_, '_>) -> i32 {
    chart.plotting_area().get_base_pixel().1
}

// ---------------------------------------------------------------------------------------
// 1D states and level sweeps.

/// Plots the band edge (black) against x and each state's probability density at its
/// energy: `states` holds `(E_n in eV, |ψ_n|² in nm⁻¹ sampled on x_nm)`. Densities are
/// drawn with their baseline at `E_n` (thin dashed grey line) and scaled together so that
/// the largest peak is 0.6 × the smallest level spacing (10 % of the energy window for a
/// single state); the plot states that scale and the peak |ψ|². The frame holds every
/// state's curve whole (the band edge may leave it). States with `unbound[n]` (above the
/// band edge at the domain's boundary; an empty slice: not known) are drawn dashed and
/// marked "not bound" in the legend, which sits right of the plot.
pub fn plot_1d_states(
    path: &Path,
    title: &str,
    x_nm: &[f64],
    band_edge_ev: &[f64],
    states: &[(f64, Vec<f64>)],
    unbound: &[bool],
    energy_label: &str,
) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if x_nm.is_empty() {
        return Err(bad("no grid points to plot".into()));
    }
    if band_edge_ev.len() != x_nm.len() {
        return Err(bad(format!("band edge has {} values for {} grid points", band_edge_ev.len(), x_nm.len())));
    }
    for (n, (_, d)) in states.iter().enumerate() {
        if d.len() != x_nm.len() {
            return Err(bad(format!("state {n} has {} values for {} grid points", d.len(), x_nm.len())));
        }
    }
    let (mut xmin, mut xmax) = finite_range(x_nm.iter().copied()).ok_or_else(|| bad("x has no finite values".into()))?;
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
    let min_spacing = es.windows(2).map(|w| w[1] - w[0]).filter(|&d| d > 1e-6 * window).fold(f64::INFINITY, f64::min);
    let target_peak = if min_spacing.is_finite() { 0.6 * min_spacing } else { 0.1 * window };
    let max_peak = shown.iter().map(|s| s.3).fold(0.0, f64::max);
    let scale = if max_peak > 0.0 { target_peak / max_peak } else { 0.0 };

    // The frame: from the lowest band edge / level to the top of the highest state's
    // curve; the band edge's maximum is included when it lies not far above (a well's
    // barrier), otherwise the band edge may leave the frame (a triangular well's slope).
    let top_states = shown.iter().map(|s| s.1 + scale * s.3).fold(f64::NEG_INFINITY, f64::max);
    let mut top = match band {
        Some((_, bmax)) if top_states.is_finite() => {
            if bmax <= top_states + 0.5 * (top_states - lo_all).max(1e-12) {
                bmax.max(top_states)
            } else {
                top_states
            }
        }
        Some((_, bmax)) => bmax,
        None => top_states,
    };
    if top <= lo_all {
        top = lo_all + window;
    }
    let margin = 0.06 * (top - lo_all);
    let (ylo, yhi) = (lo_all - margin, top + margin);
    let unit = energy_unit(energy_label);

    let mut entries = vec![LegendEntry { label: "band edge".into(), colour: BLACK, width: 3, dash: Dash::Solid, marker: Marker::None }];
    for &(n, e, _, _) in &shown {
        let ub = unbound.get(n).copied().unwrap_or(false);
        entries.push(LegendEntry {
            label: format!("E{} = {} {unit}{}", subscript(n), fmt_energy(e), if ub { " (not bound)" } else { "" }),
            colour: STATE_COLOURS[n % STATE_COLOURS.len()],
            width: 2,
            dash: if ub { Dash::Dashed } else { Dash::Solid },
            marker: Marker::None,
        });
    }
    let note = if scale > 0.0 {
        let shown_as = target_peak;
        let (v, u) = if unit == "eV" && shown_as < 1.0 { (shown_as * 1e3, "meV") } else { (shown_as, unit) };
        format!(
            "|ψ|² drawn from each level; the largest peak, {} nm⁻¹, is drawn {} {u} high ({})",
            fmt_sig(max_peak, 3),
            fmt_sig(v, 3),
            if min_spacing.is_finite() { "0.6 × the smallest level spacing" } else { "10 % of the energy range" }
        )
    } else {
        String::new()
    };

    ensure_font()?;
    let perr = |m: String| QdError::Internal(format!("drawing plot {}: {m}", path.display()));
    let root = BitMapBackend::new(path, (figure_width(&entries), 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(e.to_string()))?;
    let (left, right) = split_for_legend(&root, &entries).map_err(perr)?;
    let xa = Axis::linear(xmin, xmax, 8, false, "x (nm)");
    let ya = Axis::linear(ylo, yhi, 8, false, energy_label);
    let chart = line_chart(&left, title, &note, &xa, &ya).map_err(perr)?;

    let grey = RGBColor(150, 150, 150);
    for &(_, e, _, _) in &shown {
        draw_curve(&chart, [(xmin, e), (xmax, e)].into_iter(), grey, 1, Dash::Dashed).map_err(perr)?;
    }
    draw_curve(&chart, x_nm.iter().copied().zip(band_edge_ev.iter().copied()), BLACK, 3, Dash::Solid).map_err(perr)?;
    for &(n, e, d, _) in &shown {
        let ub = unbound.get(n).copied().unwrap_or(false);
        let colour = STATE_COLOURS[n % STATE_COLOURS.len()];
        let pts = x_nm.iter().zip(d).map(|(&x, &v)| (x, e + scale * v));
        draw_curve(&chart, pts, colour, 2, if ub { Dash::Dashed } else { Dash::Solid }).map_err(perr)?;
    }
    draw_legend(&right, plot_top(&chart), &entries).map_err(perr)?;
    root.present().map_err(|e| perr(e.to_string()))?;
    Ok(())
}

/// Energy levels against a swept parameter (`qdsim-gpu sweep`): one line with markers per
/// state index, `levels[n][i]` the energy of state n at `x[i]` (NaN where a point has no
/// such state: the line breaks there). Points where `flagged[i]` (not converged) get a
/// black cross on every level. The legend sits right of the plot.
pub fn plot_levels(path: &Path, title: &str, x_label: &str, energy_label: &str, x: &[f64], levels: &[Vec<f64>], flagged: &[bool]) -> Result<()> {
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
    let integer_x = x.iter().all(|v| !v.is_finite() || v.fract() == 0.0);
    let (xm, ym) = (0.03 * (xmax - xmin), 0.05 * (yhi - ylo));
    let (xmin, xmax, ylo, yhi) = (xmin - xm, xmax + xm, ylo - ym, yhi + ym);
    let mut entries: Vec<LegendEntry> = (0..levels.len())
        .map(|n| LegendEntry { label: format!("state {n}"), colour: STATE_COLOURS[n % STATE_COLOURS.len()], width: 2, dash: Dash::Solid, marker: Marker::Dot })
        .collect();
    if flagged.iter().any(|&f| f) {
        entries.push(LegendEntry { label: "not converged".into(), colour: WHITE, width: 0, dash: Dash::Solid, marker: Marker::Cross });
    }
    ensure_font()?;
    let perr = |m: String| QdError::Internal(format!("drawing plot {}: {m}", path.display()));
    let root = BitMapBackend::new(path, (figure_width(&entries), 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(e.to_string()))?;
    let (left, right) = split_for_legend(&root, &entries).map_err(perr)?;
    let xa = Axis::linear(xmin, xmax, 8, integer_x, x_label);
    let ya = Axis::linear(ylo, yhi, 8, false, energy_label);
    let mut chart = line_chart(&left, title, "", &xa, &ya).map_err(perr)?;
    for (n, l) in levels.iter().enumerate() {
        let colour = STATE_COLOURS[n % STATE_COLOURS.len()];
        let pts: Vec<(f64, f64)> = x.iter().copied().zip(l.iter().copied()).collect();
        draw_curve(&chart, pts.iter().copied(), colour, 2, Dash::Solid).map_err(perr)?;
        let dots = pts.iter().filter(|(a, b)| a.is_finite() && b.is_finite()).map(|&p| Circle::new(p, 4, colour.filled()));
        chart.draw_series(dots).map_err(|e| perr(e.to_string()))?;
        let crosses = pts
            .iter()
            .zip(flagged)
            .filter(|((a, b), &f)| f && a.is_finite() && b.is_finite())
            .map(|(&p, _)| Cross::new(p, 8, BLACK.stroke_width(2)));
        chart.draw_series(crosses).map_err(|e| perr(e.to_string()))?;
    }
    draw_legend(&right, plot_top(&chart), &entries).map_err(perr)?;
    root.present().map_err(|e| perr(e.to_string()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Heat maps.

/// How a panel's values map to colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColourScale {
    /// viridis from the smallest to the largest visible value (from 0 for non-negative
    /// fields whose minimum is tiny, such as |ψ|²).
    Linear,
    /// viridis over log10 of the (positive) values, at most 12 decades below the
    /// maximum; colour-bar ticks at decades. Values ≤ 0 take the lowest colour.
    Log,
    /// Blue–white–red, symmetric about 0 (a charge density).
    Diverging,
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
    /// Unit of the values, shown on the colour bar ("eV", "nm⁻²", "cm⁻³").
    pub unit: String,
    pub scale: ColourScale,
    /// The part of the extents to show ((x0, x1), (y0, y1)), nm; None: all. The figure
    /// states the zoom.
    pub view: Option<((f64, f64), (f64, f64))>,
    /// Material (region) index per cell, `nx*ny` or empty: boundaries between regions are
    /// drawn as thin white lines.
    pub regions: Vec<u16>,
}

impl Panel {
    /// A linear-scale panel over the whole extents, without outlines.
    #[allow(clippy::too_many_arguments)]
    pub fn new(title: impl Into<String>, nx: usize, ny: usize, x_range_nm: (f64, f64), y_range_nm: (f64, f64), x_label: impl Into<String>, y_label: impl Into<String>, values: Vec<f64>, unit: impl Into<String>) -> Panel {
        Panel {
            title: title.into(),
            nx,
            ny,
            x_range_nm,
            y_range_nm,
            x_label: x_label.into(),
            y_label: y_label.into(),
            values,
            unit: unit.into(),
            scale: ColourScale::Linear,
            view: None,
            regions: Vec::new(),
        }
    }

    fn shown(&self) -> ((f64, f64), (f64, f64)) {
        self.view.unwrap_or((self.x_range_nm, self.y_range_nm))
    }

    /// Cell index range (i0..i1, j0..j1) inside the view.
    fn visible_cells(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let ((vx0, vx1), (vy0, vy1)) = self.shown();
        let idx = |v: f64, (a, b): (f64, f64), n: usize| (((v - a) / (b - a) * n as f64).floor().max(0.0) as usize).min(n);
        let (i0, i1) = (idx(vx0, self.x_range_nm, self.nx), idx(vx1, self.x_range_nm, self.nx).max(idx(vx0, self.x_range_nm, self.nx) + 1));
        let (j0, j1) = (idx(vy0, self.y_range_nm, self.ny), idx(vy1, self.y_range_nm, self.ny).max(idx(vy0, self.y_range_nm, self.ny) + 1));
        (i0.min(self.nx - 1)..i1.min(self.nx), j0.min(self.ny - 1)..j1.min(self.ny))
    }
}

/// A panel's colour mapping: value → colour, and the colour bar's ticks.
struct Scale {
    kind: ColourScale,
    lo: f64,
    hi: f64,
    /// Positions (in the mapped variable: the value, or log10 of it) and labels.
    ticks: Vec<(f64, String)>,
    /// The bar's unit line ("×10⁻³ nm⁻²").
    unit: String,
    any: bool,
}

impl Scale {
    fn of(p: &Panel) -> Scale {
        let (ci, cj) = p.visible_cells();
        let vis = || cj.clone().flat_map(|j| ci.clone().map(move |i| (i, j))).map(|(i, j)| p.values[i + p.nx * j]);
        let range = finite_range(vis());
        let any = range.is_some();
        let (vmin, vmax) = range.unwrap_or((0.0, 1.0));
        let unit_with = |e: i32| {
            if e != 0 {
                format!("×10{} {}", superscript(e as i64), p.unit).trim().to_string()
            } else {
                p.unit.clone()
            }
        };
        match p.scale {
            ColourScale::Linear => {
                let lo = if vmin >= 0.0 && vmin <= 0.02 * vmax { 0.0 } else { vmin };
                let ticks = nice_ticks(lo, vmax, 5, false);
                let (labels, e) = tick_labels(&ticks);
                Scale { kind: p.scale, lo, hi: vmax, ticks: ticks.into_iter().zip(labels).collect(), unit: unit_with(e), any }
            }
            ColourScale::Diverging => {
                let a = vmin.abs().max(vmax.abs());
                let a = if a > 0.0 { a } else { 1.0 };
                let ticks = nice_ticks(-a, a, 4, false);
                let (labels, e) = tick_labels(&ticks);
                Scale { kind: p.scale, lo: -a, hi: a, ticks: ticks.into_iter().zip(labels).collect(), unit: unit_with(e), any }
            }
            ColourScale::Log => {
                let pos = finite_range(vis().filter(|&v| v > 0.0));
                let (hi, lo) = match pos {
                    Some((a, b)) => {
                        let hi = b.log10();
                        (hi, a.log10().max(hi - 12.0))
                    }
                    None => (1.0, 0.0),
                };
                let ticks = decade_ticks(lo, hi, 6);
                Scale { kind: p.scale, lo, hi, ticks: ticks.iter().map(|&k| (k, fmt_decade(k))).collect(), unit: p.unit.clone(), any: pos.is_some() }
            }
        }
    }

    /// The mapped variable of a value (log10 on a log scale; -inf for v ≤ 0 there).
    fn var(&self, v: f64) -> f64 {
        match self.kind {
            ColourScale::Log => {
                if v > 0.0 {
                    v.log10()
                } else if v.is_nan() {
                    f64::NAN
                } else {
                    f64::NEG_INFINITY
                }
            }
            _ => v,
        }
    }

    /// 0..1 along the bar.
    fn frac(&self, var: f64) -> f64 {
        if self.hi > self.lo {
            ((var - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    fn colour_at(&self, t: f64) -> RGBColor {
        match self.kind {
            ColourScale::Diverging => diverging(t),
            _ => viridis(t),
        }
    }

    fn colour(&self, v: f64) -> RGBColor {
        let x = self.var(v);
        if x.is_nan() || (x.is_infinite() && self.kind != ColourScale::Log) {
            RGBColor(190, 190, 190)
        } else {
            self.colour_at(self.frac(x))
        }
    }
}

/// Layout constants of a heat-map cell (pixels).
const YLAB: i32 = 66;
const XLAB: i32 = 50;
const CBAR_W: i32 = 120; // gap + bar + ticks + labels, right of each heat map
const CAPTION: i32 = 50; // panel title + the colour bar's unit line
const HEADER: i32 = 44; // figure title
const NOTE_H: i32 = 26;

/// The size (w, h) in pixels of a panel's map for a base size: its physical aspect ratio,
/// the short side at least a quarter of the long one.
fn box_size(p: &Panel, base: f64) -> (i32, i32) {
    let ((x0, x1), (y0, y1)) = p.shown();
    let aspect = (x1 - x0) / (y1 - y0);
    let (w, h) = if aspect >= 1.0 { (base, base / aspect) } else { (base * aspect, base) };
    (w.max(base / 4.0).round() as i32, h.max(base / 4.0).round() as i32)
}

/// The note under the figure's title when panels are zoomed: the view and the domain.
fn zoom_note(panels: &[Panel]) -> String {
    let mut axes: Vec<(String, (f64, f64), (f64, f64))> = Vec::new();
    for p in panels {
        if let Some((vx, vy)) = p.view {
            for (label, v, full) in [(&p.x_label, vx, p.x_range_nm), (&p.y_label, vy, p.y_range_nm)] {
                let name = label.split(' ').next().unwrap_or(label).to_string();
                if !axes.iter().any(|a| a.0 == name) {
                    axes.push((name, v, full));
                }
            }
        }
    }
    let zoomed: Vec<_> = axes.iter().filter(|(_, v, f)| (v.0 - f.0).abs() > 1e-9 * (f.1 - f.0) || (v.1 - f.1).abs() > 1e-9 * (f.1 - f.0)).collect();
    if zoomed.is_empty() {
        return String::new();
    }
    let r = |(a, b): (f64, f64)| format!("{}…{}", fmt_trim(a), fmt_trim(b));
    let parts: Vec<String> = zoomed.iter().map(|(n, v, f)| format!("{n} {} nm (domain {} nm)", r(*v), r(*f))).collect();
    format!("zoomed to the states: {}", parts.join(", "))
}

/// A coordinate for a note: at most 3 decimals, trailing zeros dropped ("−20", "2.5").
pub(crate) fn fmt_trim(v: f64) -> String {
    let s = fmt_fixed(v, 3);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A grid of heat maps (columns by count: up to 4), each with its own colour scale and a
/// colour bar with ticks and the unit. Each map keeps its physical aspect ratio (the
/// short side at least a quarter of the long one). When panels are zoomed (`view`), a
/// line under the title states the view and the domain. Non-finite values are grey.
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
            return Err(bad(format!("panel {k} ('{}') has {} values for {}×{} cells", p.title, p.values.len(), p.nx, p.ny)));
        }
        if !p.regions.is_empty() && p.regions.len() != p.nx * p.ny {
            return Err(bad(format!("panel {k} ('{}') has {} region labels for {}×{} cells", p.title, p.regions.len(), p.nx, p.ny)));
        }
        let ((vx0, vx1), (vy0, vy1)) = p.shown();
        for (axis, (a, b)) in [("x", p.x_range_nm), ("y", p.y_range_nm), ("view x", (vx0, vx1)), ("view y", (vy0, vy1))] {
            if !(a.is_finite() && b.is_finite() && b > a) {
                return Err(bad(format!("panel {k} ('{}') has a bad {axis} range {a}..{b}", p.title)));
            }
        }
    }
    let n = panels.len();
    let cols = match n {
        1..=3 => n,
        4 => 2,
        5 | 6 => 3,
        _ => 4,
    };
    let rows = n.div_ceil(cols);
    let base = if n <= 4 { 420.0 } else if n <= 12 { 360.0 } else { 320.0 };
    let sizes: Vec<(i32, i32)> = panels.iter().map(|p| box_size(p, base)).collect();
    let bw = sizes.iter().map(|s| s.0).max().unwrap_or(1);
    let bh = sizes.iter().map(|s| s.1).max().unwrap_or(1);
    let (cw, ch) = (YLAB + bw + CBAR_W + 16, CAPTION + bh + XLAB + 14);
    let note = zoom_note(panels);
    let head = HEADER + if note.is_empty() { 0 } else { NOTE_H };
    let (fw, fh) = (cols as i32 * cw, head + rows as i32 * ch);

    ensure_font()?;
    let perr = |m: String| QdError::Internal(format!("drawing plot {}: {m}", path.display()));
    let root = BitMapBackend::new(path, (fw as u32, fh as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(e.to_string()))?;
    let centre = Pos::new(HPos::Center, VPos::Top);
    let mut tsize = 28.0;
    while tsize > 12.0 && text_w(&root, title, tsize).map_err(perr)? as i32 + 16 > fw {
        tsize -= 1.0;
    }
    root.draw(&Text::new(title.to_string(), (fw / 2, 8), TextStyle::from((FONT, tsize).into_font()).pos(centre))).map_err(|e| perr(e.to_string()))?;
    if !note.is_empty() {
        let mut nsize = 17.0;
        while nsize > 10.0 && text_w(&root, &note, nsize).map_err(perr)? as i32 + 16 > fw {
            nsize -= 1.0;
        }
        root.draw(&Text::new(note.clone(), (fw / 2, HEADER), TextStyle::from((FONT, nsize).into_font()).color(&RGBColor(70, 70, 70)).pos(centre))).map_err(|e| perr(e.to_string()))?;
    }
    for (k, (p, &(w, h))) in panels.iter().zip(&sizes).enumerate() {
        let (r, c) = ((k / cols) as i32, (k % cols) as i32);
        let cell = root.margin(head + r * ch, fh - head - (r + 1) * ch, c * cw, fw - (c + 1) * cw);
        draw_panel(p, &cell, (bw, bh), (w, h)).map_err(perr)?;
    }
    root.present().map_err(|e| perr(e.to_string()))?;
    Ok(())
}

type AreaResult = std::result::Result<(), String>;

fn draw_panel(p: &Panel, cell: &Area<'_>, (bw, bh): (i32, i32), (w, h): (i32, i32)) -> AreaResult {
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    let (aw, ah) = cell.dim_in_pixel();
    let (aw, ah) = (aw as i32, ah as i32);
    // Panel title, shrunk to fit the cell's width.
    let mut tsize = 19.0;
    while tsize > 10.0 && text_w(cell, &p.title, tsize)? as i32 + 8 > aw {
        tsize -= 1.0;
    }
    let tstyle = TextStyle::from((FONT, tsize).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    cell.draw(&Text::new(p.title.clone(), (aw / 2, 4), tstyle)).map_err(e)?;

    // The map's box: centred in the room of the largest box of the figure.
    let bx = YLAB + (bw - w) / 2 + 8;
    let by = CAPTION + (bh - h) / 2;
    let sub = cell.margin(by, (ah - by - h - XLAB).max(0), bx - YLAB, (aw - bx - w).max(0));
    let ((vx0, vx1), (vy0, vy1)) = p.shown();
    let xt = nice_ticks(vx0, vx1, (w / 70).clamp(3, 6) as usize, false);
    let yt = nice_ticks(vy0, vy1, (h / 60).clamp(3, 6) as usize, false);
    let (xl, _) = tick_labels(&xt);
    let (yl, _) = tick_labels(&yt);
    let mut chart = ChartBuilder::on(&sub)
        .x_label_area_size(XLAB)
        .y_label_area_size(YLAB)
        .build_cartesian_2d(Ticked::new(vx0, vx1, xt.clone()), Ticked::new(vy0, vy1, yt.clone()))
        .map_err(|e| e.to_string())?;
    let find = |t: &[f64], l: &[String], v: f64, span: f64| t.iter().position(|a| (a - v).abs() <= 1e-6 * span).map(|k| l[k].clone()).unwrap_or_default();
    let xf = |v: &f64| find(&xt, &xl, *v, vx1 - vx0);
    let yf = |v: &f64| find(&yt, &yl, *v, vy1 - vy0);

    let scale = Scale::of(p);
    // Heat map: one pixel at a time, nearest cell; region boundaries in white.
    let (px, py) = chart.plotting_area().get_pixel_range();
    let screen = cell.use_screen_coord();
    let (pw, ph) = ((px.end - px.start).max(1) as f64, (py.end - py.start).max(1) as f64);
    let (xr, yr) = (p.x_range_nm, p.y_range_nm);
    let col_of = |x: i32| -> usize {
        let fx = vx0 + ((x - px.start) as f64 + 0.5) / pw * (vx1 - vx0);
        (((fx - xr.0) / (xr.1 - xr.0) * p.nx as f64).floor().max(0.0) as usize).min(p.nx - 1)
    };
    let cols: Vec<usize> = px.clone().map(col_of).collect();
    let mut prev_row: Vec<Option<u16>> = vec![None; cols.len()];
    for y in py.clone() {
        let fy = vy1 - ((y - py.start) as f64 + 0.5) / ph * (vy1 - vy0);
        let j = (((fy - yr.0) / (yr.1 - yr.0) * p.ny as f64).floor().max(0.0) as usize).min(p.ny - 1);
        let mut left: Option<u16> = None;
        for (k, (x, &i)) in px.clone().zip(&cols).enumerate() {
            let c = scale.colour(p.values[i + p.nx * j]);
            let reg = p.regions.get(i + p.nx * j).copied();
            let edge = reg.is_some() && ((left.is_some() && left != reg) || (prev_row[k].is_some() && prev_row[k] != reg));
            let c = if edge { RGBColor(255 - (255 - c.0) / 5, 255 - (255 - c.1) / 5, 255 - (255 - c.2) / 5) } else { c };
            screen.draw_pixel((x, y), &c).map_err(e)?;
            left = reg;
            prev_row[k] = reg;
        }
    }
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    screen.draw(&Rectangle::new([(px.start, py.start), (px.end, py.end)], BLACK.stroke_width(1))).map_err(e)?;

    // Colour bar with ticks, its unit above it.
    let bx0 = px.end + 14;
    let bx1 = bx0 + 16;
    let steps = (py.end - py.start).max(1);
    for s in 0..steps {
        let t = 1.0 - (s as f64 + 0.5) / steps as f64;
        let c = if scale.any { scale.colour_at(t) } else { RGBColor(190, 190, 190) };
        screen.draw(&Rectangle::new([(bx0, py.start + s), (bx1, py.start + s + 1)], c.filled())).map_err(e)?;
    }
    screen.draw(&Rectangle::new([(bx0, py.start), (bx1, py.end)], BLACK.stroke_width(1))).map_err(e)?;
    let lstyle = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    if scale.any {
        for (v, label) in &scale.ticks {
            let t = scale.frac(*v);
            let y = py.end - (t * steps as f64).round() as i32;
            screen.draw(&PathElement::new(vec![(bx1, y), (bx1 + 4, y)], BLACK.stroke_width(1))).map_err(e)?;
            screen.draw(&Text::new(label.clone(), (bx1 + 7, y), lstyle.clone())).map_err(e)?;
        }
    } else {
        screen.draw(&Text::new("no finite values".to_string(), (bx1 + 4, (py.start + py.end) / 2), lstyle.clone())).map_err(e)?;
    }
    if !scale.unit.is_empty() {
        let ustyle = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Bottom));
        screen.draw(&Text::new(scale.unit.clone(), (bx0 - 4, py.start - 6), ustyle)).map_err(e)?;
    }
    Ok(())
}

/// Blue–white–red (RdBu reversed) for t in 0..1, white at 0.5.
fn diverging(t: f64) -> RGBColor {
    const V: [(u8, u8, u8); 5] = [(0x21, 0x66, 0xac), (0x92, 0xc5, 0xde), (0xf7, 0xf7, 0xf7), (0xf4, 0xa5, 0x82), (0xb2, 0x18, 0x2b)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let f = t * 4.0;
    let k = (f.floor() as usize).min(3);
    let u = f - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * u).round() as u8;
    let (a, b) = (V[k], V[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

// ---------------------------------------------------------------------------------------
// Slices of a structure and its states.

/// One state for [`structure_panels`]: its energy (eV), |ψ|² on the whole grid (nm⁻ᵈ),
/// and whether it is not bound by the structure.
pub struct SliceState<'a> {
    pub energy: f64,
    pub density: &'a [f64],
    pub unbound: bool,
}

/// Heat maps of a potential and of every state, on `g` (2D or 3D), zoomed to where the
/// states are (cells with |ψ|² above 1 % of a state's peak, widened by 30 % of that box
/// on each side and rounded outward; no zoom on an axis where that covers 80 % of the
/// domain).
/// 2D: the plane itself; the potential, then one panel per state. 3D: for the potential
/// and each state an xy and an xz plane through the density's maximum (the potential's
/// through the ground state's), so that the figure reads as pairs. Material boundaries
/// (`regions`, per cell, or empty) are outlined. `energy_unit` labels the states' energies.
pub fn structure_panels(g: &Grid, potential_title: &str, potential_unit: &str, potential: &[f64], regions: &[u16], states: &[SliceState], energy_unit: &str) -> Vec<Panel> {
    let names = ["x", "y", "z"];
    let dim = g.dim.clamp(2, 3);
    let den_unit = ["", "nm⁻¹", "nm⁻²", "nm⁻³"][dim];
    // Zoom box (cell index ranges per axis) over all states.
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for s in states {
        let peak = s.density.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(*v));
        if peak <= 0.0 {
            continue;
        }
        for (c, &v) in s.density.iter().enumerate() {
            if v >= 1e-2 * peak {
                let ijk = g.ijk(c);
                for a in 0..3 {
                    lo[a] = lo[a].min(ijk[a]);
                    hi[a] = hi[a].max(ijk[a]);
                }
            }
        }
    }
    let full = |a: usize| (g.origin[a], g.origin[a] + g.n[a] as f64 * g.h[a]);
    let window = |a: usize| -> (f64, f64) {
        let (f0, f1) = full(a);
        if lo[a] == usize::MAX {
            return (f0, f1);
        }
        let (a0, a1) = (g.origin[a] + lo[a] as f64 * g.h[a], g.origin[a] + (hi[a] + 1) as f64 * g.h[a]);
        let pad = (0.3 * (a1 - a0)).max(2.0 * g.h[a]);
        // outward to a round number, so that the view reads "−20…20 nm"
        let step = nice_step((a1 - a0 + 2.0 * pad) / 16.0, false);
        let (w0, w1) = ((((a0 - pad) / step).floor() * step).max(f0), (((a1 + pad) / step).ceil() * step).min(f1));
        if w1 - w0 >= 0.8 * (f1 - f0) {
            (f0, f1)
        } else {
            (w0, w1)
        }
    };
    let views = [window(0), window(1), window(2)];
    let plane = |data: &[f64], (a, b): (usize, usize), fixed: usize, at: usize| -> Vec<f64> {
        let mut out = Vec::with_capacity(g.n[a] * g.n[b]);
        for j in 0..g.n[b] {
            for i in 0..g.n[a] {
                let mut ijk = [0usize; 3];
                ijk[a] = i;
                ijk[b] = j;
                ijk[fixed] = at;
                out.push(data[g.index(ijk[0], ijk[1], ijk[2])]);
            }
        }
        out
    };
    let plane_u16 = |data: &[u16], ax: (usize, usize), fixed: usize, at: usize| -> Vec<u16> {
        if data.len() != g.len() {
            return Vec::new();
        }
        let f: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        plane(&f, ax, fixed, at).into_iter().map(|v| v as u16).collect()
    };
    let panel = |title: String, unit: &str, data: &[f64], (a, b): (usize, usize), at: [usize; 3]| -> Panel {
        let fixed = 3 - a - b;
        let suffix = if g.dim == 3 { format!(", {} = {} nm", names[fixed], fmt_fixed(g.center_coord(fixed, at[fixed]), 1)) } else { String::new() };
        let mut p = Panel::new(
            format!("{title}{suffix}"),
            g.n[a],
            g.n[b],
            full(a),
            full(b),
            format!("{} (nm)", names[a]),
            format!("{} (nm)", names[b]),
            plane(data, (a, b), fixed, at[fixed]),
            unit,
        );
        p.regions = plane_u16(regions, (a, b), fixed, at[fixed]);
        if views[a] != full(a) || views[b] != full(b) {
            p.view = Some((views[a], views[b]));
        }
        p
    };
    let argmax = |d: &[f64]| -> [usize; 3] {
        let best = d.iter().enumerate().filter(|(_, v)| v.is_finite()).fold((0usize, f64::NEG_INFINITY), |b, (c, &v)| if v > b.1 { (c, v) } else { b });
        if best.1 > 0.0 {
            g.ijk(best.0)
        } else {
            [g.n[0] / 2, g.n[1] / 2, g.n[2] / 2]
        }
    };
    let centre = states.first().map(|s| argmax(s.density)).unwrap_or([g.n[0] / 2, g.n[1] / 2, g.n[2] / 2]);
    let state_title = |n: usize, s: &SliceState| {
        format!("|ψ{}|², E{} = {} {energy_unit}{}", subscript(n), subscript(n), fmt_energy(s.energy), if s.unbound { " (not bound)" } else { "" })
    };
    let mut panels = Vec::new();
    if g.dim == 3 {
        panels.push(panel(potential_title.to_string(), potential_unit, potential, (0, 1), centre));
        panels.push(panel(potential_title.to_string(), potential_unit, potential, (0, 2), centre));
        for (n, s) in states.iter().enumerate() {
            let at = argmax(s.density);
            panels.push(panel(state_title(n, s), den_unit, s.density, (0, 1), at));
            panels.push(panel(state_title(n, s), den_unit, s.density, (0, 2), at));
        }
    } else {
        let at = [0, 0, 0];
        panels.push(panel(potential_title.to_string(), potential_unit, potential, (0, 1), at));
        for (n, s) in states.iter().enumerate() {
            panels.push(panel(state_title(n, s), den_unit, s.density, (0, 1), at));
        }
    }
    panels
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

/// The plot window, for clipping polylines in data coordinates.
pub(crate) struct ClipRect {
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
        plot_1d_states(&p, "Finite quantum well, GaAs/AlGaAs", &x, &v, &states, &[false, false, true], "Energy (eV)").unwrap();
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
        plot_1d_states(&p, "one state", &x, &v, &states, &[], "Energy (eV)").unwrap();
        png_ok(&p, 5_000);
        // No states at all, and a state with NaN energy.
        let p = out_dir().join("states_none.png");
        plot_1d_states(&p, "none", &x, &v, &[(f64::NAN, vec![0.0; x.len()])], &[], "E (eV)").unwrap();
        png_ok(&p, 5_000);
    }

    #[test]
    fn empty_or_mismatched_input_is_an_error() {
        let p = out_dir().join("never.png");
        assert!(plot_1d_states(&p, "t", &[], &[], &[], &[], "E").is_err());
        assert!(plot_1d_states(&p, "t", &[1.0, 2.0], &[0.0], &[], &[], "E").is_err());
        assert!(plot_1d_states(&p, "t", &[f64::NAN], &[0.0], &[], &[], "E").is_err());
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
        Panel::new(title, nx, ny, xr, yr, "x (nm)", "y (nm)", values, "eV")
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

    // --- ticks and numbers (issue 11 item 14: log axes labelled "1000000000000000.0" and
    // "9.999999999e-5", iteration axes with ticks at 1.5, colour bars with only min/max).

    #[test]
    fn log_axes_get_decade_ticks_labelled_as_powers_of_ten() {
        // densities from 10⁵ to 10¹⁸ cm⁻³: plotters' own labels were "1000000000000000.0"
        let a = Axis::log(5.0, 18.0, "density (cm⁻³)");
        assert!(a.ticks.iter().all(|t| t.fract() == 0.0), "{:?}", a.ticks);
        assert!(a.ticks.len() >= 5 && a.ticks.len() <= 11, "{:?}", a.ticks);
        assert!(a.labels.iter().all(|l| l.starts_with("10") && l.chars().count() <= 5), "{:?}", a.labels);
        assert_eq!(decade_ticks(5.0, 18.0, 10), vec![6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0]);
        // a convergence history from 10⁻⁷ to 10⁻¹ V: was "9.999999999e-5"
        let a = Axis::log(-7.0, -1.0, "V");
        assert_eq!(a.ticks, vec![-7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0]);
        assert_eq!(a.labels[2], "10⁻⁵");
        assert_eq!(fmt_decade(15.0), "10¹⁵");
        assert_eq!(fmt_decade(0.0), "10⁰");
        assert_eq!(superscript(-12), "⁻¹²");
        // many decades: every 5th
        assert_eq!(decade_ticks(-30.0, 20.0, 10), vec![-30.0, -25.0, -20.0, -15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]);
    }

    #[test]
    fn integer_axes_get_integer_ticks() {
        // 4 iterations: ticks were at 1.5, 2.5, 3.5
        assert_eq!(nice_ticks(1.0, 4.0, 10, true), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(nice_ticks(1.0, 2.0, 10, true), vec![1.0, 2.0]);
        assert_eq!(nice_ticks(0.0, 100.0, 8, true), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let a = Axis::linear(1.0, 7.0, 10, true, "iteration");
        assert_eq!(a.labels, vec!["1", "2", "3", "4", "5", "6", "7"]);
        // one point
        assert_eq!(nice_ticks(3.0, 3.0, 10, true), vec![3.0]);
    }

    #[test]
    fn linear_ticks_are_round_and_compact() {
        let t = nice_ticks(-200.0, 200.0, 8, false);
        assert_eq!(t, vec![-200.0, -150.0, -100.0, -50.0, 0.0, 50.0, 100.0, 150.0, 200.0]);
        let (l, e) = tick_labels(&t);
        assert_eq!(e, 0);
        assert_eq!(l[1], "\u{2212}150"); // no "-150.0"
        assert_eq!(l[4], "0");
        let (l, _) = tick_labels(&nice_ticks(0.6, 0.9, 8, false));
        assert!(l.iter().all(|s| s.len() == 4 && s.starts_with("0.")), "{l:?}");
        // |ψ|² of order 10⁻³ nm⁻²: a common factor, not 0.0080
        let t = nice_ticks(0.0, 8.05e-3, 5, false);
        let (l, e) = tick_labels(&t);
        assert_eq!(e, -3);
        assert_eq!(l, vec!["0", "2", "4", "6", "8"]);
        // a charge density of ±2.7×10¹⁸ cm⁻³
        let (l, e) = tick_labels(&nice_ticks(-2.7e18, 2.7e18, 4, false));
        assert_eq!(e, 18);
        assert_eq!(l, vec!["\u{2212}2", "0", "2"]);
        // floating-point noise does not show
        let (l, _) = tick_labels(&[0.1, 0.2, 0.30000000000000004]);
        assert_eq!(l, vec!["0.1", "0.2", "0.3"]);
    }

    #[test]
    fn numbers_in_titles_and_notes_are_compact() {
        assert_eq!(fmt_sig(1.38e-42, 3), "1.38×10⁻⁴²");
        assert_eq!(fmt_sig(9.999999999e-5, 3), "1.00×10⁻⁴");
        assert_eq!(fmt_sig(0.0805, 3), "0.0805");
        assert_eq!(fmt_sig(54.321, 3), "54.3");
        assert_eq!(fmt_sig(-0.1789, 4), "\u{2212}0.1789");
        assert_eq!(fmt_sig(0.0, 3), "0");
        assert_eq!(fmt_fixed(-0.00001, 2), "0.00");
        assert_eq!(fmt_energy(0.65331), "0.6533");
        assert_eq!(subscript(12), "₁₂");
        assert_eq!(fmt_trim(-20.0), "\u{2212}20");
        assert_eq!(fmt_trim(2.5), "2.5");
        assert_eq!(fmt_trim(0.0004), "0");
    }

    #[test]
    fn colour_bars_have_several_ticks_and_start_densities_at_zero() {
        let mut p = panel("|ψ₀|²", 40, 40, (-20.0, 20.0), (-20.0, 20.0), |x, y| 8.05e-3 * (-(x * x + y * y) / 20.0).exp() + 1.38e-42);
        p.unit = "nm⁻²".into();
        let s = Scale::of(&p);
        assert_eq!(s.lo, 0.0);
        assert!(s.ticks.len() >= 4, "{:?}", s.ticks);
        assert_eq!(s.unit, "×10⁻³ nm⁻²");
        // log scale: decades, at most 12 below the maximum
        p.scale = ColourScale::Log;
        p.values = (0..1600).map(|k| 10f64.powf(-9.0 + 27.0 * k as f64 / 1599.0)).collect();
        let s = Scale::of(&p);
        assert!((s.hi - 18.0).abs() < 1e-9 && (s.lo - 6.0).abs() < 1e-9, "{} {}", s.lo, s.hi);
        assert!(s.ticks.iter().all(|(v, l)| v.fract() == 0.0 && l.starts_with("10")), "{:?}", s.ticks);
        // diverging: symmetric about 0
        p.scale = ColourScale::Diverging;
        p.values = (0..1600).map(|k| -2.67e18 + 3.67e18 * k as f64 / 1599.0).collect();
        let s = Scale::of(&p);
        assert_eq!(s.lo, -s.hi);
        assert!((s.frac(0.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn structure_panels_show_every_state_zoomed_to_it() {
        // a 10 nm dot in a 200 × 100 nm domain: the old slices showed it on a few pixels
        let g = Grid::uniform(&[200, 100], &[1.0, 1.0]);
        let regions: Vec<u16> = (0..g.len()).map(|c| { let p = g.center(c); u16::from(p[0] * p[0] + p[1] * p[1] < 100.0) }).collect();
        let pot: Vec<f64> = regions.iter().map(|&r| if r == 1 { -0.2 } else { 0.6 }).collect();
        let dens: Vec<Vec<f64>> = (0..10)
            .map(|k| (0..g.len()).map(|c| { let p = g.center(c); (-(p[0] * p[0] + p[1] * p[1]) / (30.0 + k as f64)).exp() }).collect())
            .collect();
        let states: Vec<SliceState> = dens.iter().enumerate().map(|(n, d)| SliceState { energy: 0.01 * n as f64, density: d, unbound: n == 9 }).collect();
        let panels = structure_panels(&g, "potential energy", "eV", &pot, &regions, &states, "eV");
        assert_eq!(panels.len(), 11);
        let ((x0, x1), (y0, y1)) = panels[0].view.expect("zoomed");
        assert!(x1 - x0 < 60.0 && y1 - y0 < 60.0 && x0 <= -10.0 && x1 >= 10.0, "{x0} {x1} {y0} {y1}");
        assert!(x0.fract() == 0.0 && x1.fract() == 0.0);
        assert!(panels[10].title.contains("not bound"), "{}", panels[10].title);
        let note = zoom_note(&panels);
        assert!(note.contains("x \u{2212}") && note.contains("(domain \u{2212}100…100 nm)") && note.contains("(domain \u{2212}50…50 nm)"), "{note}");
        assert_eq!(panels[1].unit, "nm⁻²");
        let p = out_dir().join("structure.png");
        plot_panels(&p, "2D dot", &panels).unwrap();
        png_ok(&p, 20_000);
        // 3D: an xy and an xz plane for the potential and for each state
        let g = Grid::uniform(&[24, 24, 16], &[1.0, 1.0, 1.0]);
        let d: Vec<f64> = (0..g.len()).map(|c| { let p = g.center(c); (-(p[0] * p[0] + p[1] * p[1]) / 10.0 - (p[2] - 3.0).powi(2)).exp() }).collect();
        let pot = vec![0.0; g.len()];
        let states: Vec<SliceState> = (0..3).map(|n| SliceState { energy: n as f64, density: &d, unbound: false }).collect();
        let panels = structure_panels(&g, "V", "eV", &pot, &[], &states, "eV");
        assert_eq!(panels.len(), 8);
        assert!(panels[2].title.contains("z = 3.5 nm") || panels[2].title.contains("z = 2.5 nm"), "{}", panels[2].title);
        let p = out_dir().join("structure3d.png");
        plot_panels(&p, "3D dot", &panels).unwrap();
        png_ok(&p, 20_000);
    }

    #[test]
    fn line_plots_draw_log_axes_and_coinciding_dashed_lines() {
        let x: Vec<f64> = (0..200).map(|i| -100.0 + i as f64).collect();
        let n: Vec<f64> = x.iter().map(|&x| 1e17 / (1.0 + (-(x / 10.0)).exp()) + 1e-20).collect();
        let p0: Vec<f64> = x.iter().map(|&x| 1e17 / (1.0 + (x / 10.0).exp())).collect();
        let nd = vec![1e17; x.len()];
        let p = out_dir().join("densities.png");
        let s = |label: &str, y: &'static [f64], dashed| crate::output::lines::Series { label: label.into(), y, dashed };
        let (n, p0, nd): (&'static [f64], &'static [f64], &'static [f64]) = (n.leak(), p0.leak(), nd.leak());
        crate::output::lines::plot_lines(&p, "p-n", &x, "x (nm)", "density (cm⁻³)", &[s("n", n, false), s("p", p0, false), s("N_D", nd, true), s("N_A", nd, true)], true).unwrap();
        png_ok(&p, 10_000);
        let it = [1.0, 2.0, 3.0, 4.0];
        let p = out_dir().join("convergence.png");
        crate::output::lines::plot_lines(&p, "scf", &it, "iteration", "V", &[s("change", &[1e-2, 5e-3, 4e-5, 8e-7], false)], true).unwrap();
        png_ok(&p, 5_000);
        // nothing positive on a log axis is an error, not a panic
        assert!(crate::output::lines::plot_lines(&p, "t", &it, "i", "V", &[s("zero", &[0.0; 4], false)], true).is_err());
    }

}
