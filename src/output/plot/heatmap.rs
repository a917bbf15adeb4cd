//! Heat maps: a figure of [`Panel`]s (slices of 2D/3D fields), each with its own colour
//! scale (linear, logarithmic or diverging) and a colour bar with ticks and unit
//! ([`plot_panels`]).

use super::*;
use rayon::prelude::*;

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

    pub(super) fn shown(&self) -> ((f64, f64), (f64, f64)) {
        self.view.unwrap_or((self.x_range_nm, self.y_range_nm))
    }

    /// Cell index range (i0..i1, j0..j1) inside the view.
    pub(super) fn visible_cells(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let ((vx0, vx1), (vy0, vy1)) = self.shown();
        let idx = |v: f64, (a, b): (f64, f64), n: usize| (((v - a) / (b - a) * n as f64).floor().max(0.0) as usize).min(n);
        let (i0, i1) = (idx(vx0, self.x_range_nm, self.nx), idx(vx1, self.x_range_nm, self.nx).max(idx(vx0, self.x_range_nm, self.nx) + 1));
        let (j0, j1) = (idx(vy0, self.y_range_nm, self.ny), idx(vy1, self.y_range_nm, self.ny).max(idx(vy0, self.y_range_nm, self.ny) + 1));
        (i0.min(self.nx - 1)..i1.min(self.nx), j0.min(self.ny - 1)..j1.min(self.ny))
    }
}

/// A panel's colour mapping: value → colour, and the colour bar's ticks.
pub(super) struct Scale {
    pub(super) kind: ColourScale,
    pub(super) lo: f64,
    pub(super) hi: f64,
    /// Positions (in the mapped variable: the value, or log10 of it) and labels.
    pub(super) ticks: Vec<(f64, String)>,
    /// The bar's unit line ("×10⁻³ nm⁻²").
    pub(super) unit: String,
    pub(super) any: bool,
}

impl Scale {
    pub(super) fn of(p: &Panel) -> Scale {
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
    pub(super) fn var(&self, v: f64) -> f64 {
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
    pub(super) fn frac(&self, var: f64) -> f64 {
        if self.hi > self.lo {
            ((var - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    pub(super) fn colour_at(&self, t: f64) -> RGBColor {
        match self.kind {
            ColourScale::Diverging => diverging(t),
            _ => viridis(t),
        }
    }

    pub(super) fn colour(&self, v: f64) -> RGBColor {
        let x = self.var(v);
        if x.is_nan() || (x.is_infinite() && self.kind != ColourScale::Log) {
            RGBColor(190, 190, 190)
        } else {
            self.colour_at(self.frac(x))
        }
    }
}

/// Layout constants of a heat-map cell (pixels).
pub(super) const YLAB: i32 = 66;
pub(super) const XLAB: i32 = 50;
pub(super) const CBAR_W: i32 = 120; // gap + bar + ticks + labels, right of each heat map
pub(super) const CAPTION: i32 = 50; // panel title + the colour bar's unit line
pub(super) const HEADER: i32 = 44; // figure title
pub(super) const NOTE_H: i32 = 26;

/// The size (w, h) in pixels of a panel's map for a base size: its physical aspect ratio,
/// the short side at least a quarter of the long one.
pub(super) fn box_size(p: &Panel, base: f64) -> (i32, i32) {
    let ((x0, x1), (y0, y1)) = p.shown();
    let aspect = (x1 - x0) / (y1 - y0);
    let (w, h) = if aspect >= 1.0 { (base, base / aspect) } else { (base * aspect, base) };
    (w.max(base / 4.0).round() as i32, h.max(base / 4.0).round() as i32)
}

/// The note under the figure's title when panels are zoomed: the view and the domain.
pub(super) fn zoom_note(panels: &[Panel]) -> String {
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

pub(super) type AreaResult = std::result::Result<(), String>;

pub(super) fn draw_panel(p: &Panel, cell: &Area<'_>, (bw, bh): (i32, i32), (w, h): (i32, i32)) -> AreaResult {
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
    let row_of = |y: i32| -> usize {
        let fy = vy1 - ((y - py.start) as f64 + 0.5) / ph * (vy1 - vy0);
        (((fy - yr.0) / (yr.1 - yr.0) * p.ny as f64).floor().max(0.0) as usize).min(p.ny - 1)
    };
    // the pixels' colours, a row per rayon task (a pixel depends on its cell and on the
    // cells of its left and upper neighbours only), then drawn in order
    let rows: Vec<Vec<RGBColor>> = py
        .clone()
        .into_par_iter()
        .map(|y| {
            let j = row_of(y);
            let up = (y > py.start).then(|| row_of(y - 1));
            let mut left: Option<u16> = None;
            cols.iter()
                .map(|&i| {
                    let c = scale.colour(p.values[i + p.nx * j]);
                    let reg = p.regions.get(i + p.nx * j).copied();
                    let above = up.and_then(|u| p.regions.get(i + p.nx * u).copied());
                    let edge = reg.is_some() && ((left.is_some() && left != reg) || (above.is_some() && above != reg));
                    left = reg;
                    if edge {
                        RGBColor(255 - (255 - c.0) / 5, 255 - (255 - c.1) / 5, 255 - (255 - c.2) / 5)
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    for (y, row) in py.clone().zip(&rows) {
        for (x, c) in px.clone().zip(row) {
            screen.draw_pixel((x, y), c).map_err(e)?;
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
pub(super) fn diverging(t: f64) -> RGBColor {
    const V: [(u8, u8, u8); 5] = [(0x21, 0x66, 0xac), (0x92, 0xc5, 0xde), (0xf7, 0xf7, 0xf7), (0xf4, 0xa5, 0x82), (0xb2, 0x18, 0x2b)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let f = t * 4.0;
    let k = (f.floor() as usize).min(3);
    let u = f - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * u).round() as u8;
    let (a, b) = (V[k], V[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// matplotlib's viridis at 11 evenly spaced points, interpolated linearly.
pub(super) fn viridis(t: f64) -> RGBColor {
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
