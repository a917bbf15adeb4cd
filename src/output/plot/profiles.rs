//! The 1D plots: a band-edge profile with its states at their energies
//! ([`plot_1d_states`]), and energy levels against a swept parameter ([`plot_levels`]).

use super::*;

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

/// Named profiles against position (the strain of a 1D scene): one line per series,
/// `series[k].1` sampled on `x_nm` (NaN breaks a line); the legend sits right of the plot.
pub fn plot_profiles(path: &Path, title: &str, x_label: &str, y_label: &str, x_nm: &[f64], series: &[(String, Vec<f64>)]) -> Result<()> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    if x_nm.is_empty() {
        return Err(bad("no grid points to plot".into()));
    }
    if let Some(k) = series.iter().position(|s| s.1.len() != x_nm.len()) {
        return Err(bad(format!("series {k} has {} values for {} grid points", series[k].1.len(), x_nm.len())));
    }
    let (mut xmin, mut xmax) = finite_range(x_nm.iter().copied()).ok_or_else(|| bad("x has no finite values".into()))?;
    if xmax <= xmin {
        xmin -= 0.5;
        xmax += 0.5;
    }
    let (mut ylo, mut yhi) = finite_range(series.iter().flat_map(|s| s.1.iter().copied())).unwrap_or((-1.0, 1.0));
    if yhi <= ylo {
        ylo -= 0.5;
        yhi += 0.5;
    }
    let ym = 0.05 * (yhi - ylo);
    let (ylo, yhi) = (ylo - ym, yhi + ym);
    let entries: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .map(|(n, s)| LegendEntry { label: s.0.clone(), colour: STATE_COLOURS[n % STATE_COLOURS.len()], width: 2, dash: Dash::Solid, marker: Marker::None })
        .collect();
    ensure_font()?;
    let perr = |m: String| QdError::Internal(format!("drawing plot {}: {m}", path.display()));
    let root = BitMapBackend::new(path, (figure_width(&entries), 700)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(e.to_string()))?;
    let (left, right) = split_for_legend(&root, &entries).map_err(perr)?;
    let xa = Axis::linear(xmin, xmax, 8, false, x_label);
    let ya = Axis::linear(ylo, yhi, 8, false, y_label);
    let chart = line_chart(&left, title, "", &xa, &ya).map_err(perr)?;
    for (n, s) in series.iter().enumerate() {
        let colour = STATE_COLOURS[n % STATE_COLOURS.len()];
        draw_curve(&chart, x_nm.iter().copied().zip(s.1.iter().copied()), colour, 2, Dash::Solid).map_err(perr)?;
    }
    draw_legend(&right, plot_top(&chart), &entries).map_err(perr)?;
    root.present().map_err(|e| perr(e.to_string()))?;
    Ok(())
}
