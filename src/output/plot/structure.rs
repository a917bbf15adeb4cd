//! The slices of a structure and its states as heat-map panels ([`structure_panels`]):
//! the potential and every state's density through the grid, zoomed to where the states are.

use super::*;

/// The lattice the fields of [`structure_panels`] live on: what the plots need of a grid
/// (the io layer knows no `grid::Grid`; `grid` converts a `&Grid` into it). Flat arrays
/// are x-fastest, i + nx·(j + ny·k); lengths in nm.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceGrid {
    /// 1, 2 or 3.
    pub dim: usize,
    /// Cells per axis (1 on absent axes).
    pub n: [usize; 3],
    /// Cell size per axis, nm.
    pub h: [f64; 3],
    /// Lower corner, nm.
    pub origin: [f64; 3],
    /// Graded grids: the cell boundaries of each axis, nm (None: uniform `h`). The panels
    /// are then resampled on a uniform raster of the smallest width (at most
    /// [`GRADED_RASTER_MAX`] pixels per axis), so cells show at their true places.
    pub nodes: Option<[Vec<f64>; 3]>,
}

/// Most raster cells per axis of a graded grid's panel.
pub const GRADED_RASTER_MAX: usize = 800;

/// A uniform raster over the cells with boundaries `nodes` (nm) at about the smallest
/// width `h` (at least one raster cell per cell, at most [`GRADED_RASTER_MAX`] unless there
/// are more cells): for each raster cell, the cell under its centre.
pub fn graded_raster(nodes: &[f64], h: f64) -> Vec<usize> {
    let n = nodes.len() - 1;
    let (x0, x1) = (nodes[0], nodes[n]);
    let m = (((x1 - x0) / h).ceil() as usize).clamp(n, GRADED_RASTER_MAX.max(n));
    (0..m)
        .map(|p| {
            let at = x0 + (p as f64 + 0.5) * (x1 - x0) / m as f64;
            nodes.partition_point(|&e| e <= at).clamp(1, n) - 1
        })
        .collect()
}

impl SliceGrid {
    fn len(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }
    fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.n[0] * (j + self.n[1] * k)
    }
    fn ijk(&self, idx: usize) -> [usize; 3] {
        let i = idx % self.n[0];
        let r = idx / self.n[0];
        [i, r % self.n[1], r / self.n[1]]
    }
    fn center_coord(&self, a: usize, i: usize) -> f64 {
        if a >= self.dim {
            0.0
        } else if let Some(x) = &self.nodes {
            0.5 * (x[a][i] + x[a][i + 1])
        } else {
            self.origin[a] + (i as f64 + 0.5) * self.h[a]
        }
    }
    /// Lower boundary of cell i along a (i = n: the upper end), nm.
    fn edge(&self, a: usize, i: usize) -> f64 {
        match &self.nodes {
            Some(x) if a < self.dim => x[a][i],
            _ => self.origin[a] + i as f64 * self.h[a],
        }
    }
    /// Graded grids: the raster of axis a as the cell under each raster cell.
    fn raster(&self, a: usize) -> Option<Vec<usize>> {
        Some(graded_raster(&self.nodes.as_ref()?[a], self.h[a]))
    }
}

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
pub fn structure_panels(g: impl Into<SliceGrid>, potential_title: &str, potential_unit: &str, potential: &[f64], regions: &[u16], states: &[SliceState], energy_unit: &str) -> Vec<Panel> {
    let g: SliceGrid = g.into();
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
    let full = |a: usize| (g.edge(a, 0), g.edge(a, g.n[a]));
    let window = |a: usize| -> (f64, f64) {
        let (f0, f1) = full(a);
        if lo[a] == usize::MAX {
            return (f0, f1);
        }
        let (a0, a1) = (g.edge(a, lo[a]), g.edge(a, hi[a] + 1));
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
    let rasters: [Vec<usize>; 3] = std::array::from_fn(|a| g.raster(a).unwrap_or_else(|| (0..g.n[a]).collect()));
    let plane = |data: &[f64], (a, b): (usize, usize), fixed: usize, at: usize| -> Vec<f64> {
        let mut out = Vec::with_capacity(rasters[a].len() * rasters[b].len());
        for &j in &rasters[b] {
            for &i in &rasters[a] {
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
            rasters[a].len(),
            rasters[b].len(),
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
