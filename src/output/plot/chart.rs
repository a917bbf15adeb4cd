//! Line charts, shared by the 1D plots here and by `output::lines`: axes with nice ticks,
//! dashes and markers, the legend beside the plot, curves clipped to the window.

use super::*;

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

    pub(super) fn label(&self, v: f64) -> String {
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
    pub(super) fn pattern(self) -> &'static [(i32, i32)] {
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
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) ticks: Vec<f64>,
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

pub(super) type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;

pub(super) fn text_w(area: &Area<'_>, s: &str, size: f64) -> std::result::Result<u32, String> {
    area.estimate_text_size(s, &TextStyle::from((FONT, size).into_font())).map(|(w, _)| w).map_err(|e| e.to_string())
}

pub(super) const LEGEND_FONT: f64 = 18.0;

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
pub(super) fn draw_dashed_px(area: &Area<'_>, pts: &[(i32, i32)], style: ShapeStyle, dash: Dash) -> std::result::Result<(), String> {
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
pub(super) fn split_for_legend<'b>(root: &Area<'b>, entries: &[LegendEntry]) -> std::result::Result<(Area<'b>, Area<'b>), String> {
    let lw = legend_width(root, entries)?;
    let (w, _) = root.dim_in_pixel();
    Ok(root.split_horizontally(w - lw))
}

/// Width of the figure: 1000 px for the chart plus the legend's column.
pub(super) fn figure_width(entries: &[LegendEntry]) -> u32 {
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
pub(super) fn plot_top(chart: &LineChart<'_, '_>) -> i32 {
    chart.plotting_area().get_base_pixel().1
}

/// The plot window, for clipping polylines in data coordinates.
pub(crate) struct ClipRect {
    pub(super) x0: f64,
    pub(super) x1: f64,
    pub(super) y0: f64,
    pub(super) y1: f64,
}

impl ClipRect {
    /// Splits a polyline into the pieces inside the window, breaking at non-finite points.
    pub(super) fn polylines(&self, pts: impl Iterator<Item = (f64, f64)>) -> Vec<Vec<(f64, f64)>> {
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

    pub(super) fn contains(&self, p: (f64, f64)) -> bool {
        p.0 >= self.x0 && p.0 <= self.x1 && p.1 >= self.y0 && p.1 <= self.y1
    }

    /// Liang–Barsky clipping of the segment a→b.
    pub(super) fn clip(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
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
