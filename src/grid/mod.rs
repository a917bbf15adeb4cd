//! The rectilinear grid and the material map painted onto it by the scene's shapes.
//!
//! Unknowns live at cell centres (cell-centred finite volumes). Flat arrays are x-fastest:
//! index = i + nx·(j + ny·k). Lengths are nm.

pub mod device;
pub mod shapes;

use crate::error::{QdError, Result};
use crate::scene::{Domain, Spacing};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Grid {
    /// 1, 2 or 3.
    pub dim: usize,
    /// Cells per axis (1 on absent axes).
    pub n: [usize; 3],
    /// Cell size per axis, nm (1 on absent axes, unused there).
    pub h: [f64; 3],
    /// Lower corner of the domain, nm (0 on absent axes).
    pub origin: [f64; 3],
    /// Periodic boundary per axis.
    pub periodic: [bool; 3],
}

const AXES: [&str; 3] = ["x", "y", "z"];

impl Grid {
    /// Build the grid of a scene's domain (the domain is centred on the origin).
    pub fn from_domain(d: &Domain) -> Result<Grid> {
        let dim = d.size.len();
        if !(1..=3).contains(&dim) {
            return Err(QdError::input("domain.size", format!("needs 1, 2 or 3 entries (one per axis), got {dim}")));
        }
        let spacing: Vec<f64> = match &d.spacing {
            Spacing::Uniform(h) => vec![*h; dim],
            Spacing::PerAxis(v) => {
                if v.len() != dim {
                    return Err(QdError::input(
                        "domain.spacing",
                        format!("has {} entries but domain.size has {dim}: give one number or one per axis", v.len()),
                    ));
                }
                v.clone()
            }
        };
        let periodic = d.periodic.clone().unwrap_or_else(|| vec![false; dim]);
        if periodic.len() != dim {
            return Err(QdError::input("domain.periodic", format!("has {} entries, the domain has {dim} axes", periodic.len())));
        }
        let mut g = Grid { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3] };
        for a in 0..dim {
            let size = d.size[a];
            let h = spacing[a];
            if !(size.is_finite() && size > 0.0) {
                return Err(QdError::input(format!("domain.size[{a}]"), format!("must be a positive length in nm, got {size}")));
            }
            if !(h.is_finite() && h > 0.0) {
                let p = if matches!(d.spacing, Spacing::Uniform(_)) { "domain.spacing".to_string() } else { format!("domain.spacing[{a}]") };
                return Err(QdError::input(p, format!("must be a positive length in nm, got {h}")));
            }
            let cells = (size / h).round();
            if cells < 3.0 {
                return Err(QdError::input(
                    format!("domain.spacing"),
                    format!("gives {cells} cells along {} (size {size} nm / spacing {h} nm): at least 3 are needed", AXES[a]),
                ));
            }
            if cells > 1e9 {
                return Err(QdError::input("domain.spacing", format!("gives {cells:e} cells along {}: far too many", AXES[a])));
            }
            g.n[a] = cells as usize;
            g.h[a] = size / cells;
            g.origin[a] = -size / 2.0;
            g.periodic[a] = periodic[a];
        }
        Ok(g)
    }

    /// A uniform grid from explicit counts and spacings (tests, benchmarks).
    pub fn uniform(n: &[usize], h: &[f64]) -> Grid {
        let dim = n.len();
        let mut g = Grid { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3] };
        for a in 0..dim {
            g.n[a] = n[a];
            g.h[a] = h[a];
            g.origin[a] = -(n[a] as f64) * h[a] / 2.0;
        }
        g
    }

    /// Number of cells (unknowns).
    pub fn len(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Cell counts of the axes that exist.
    pub fn dims(&self) -> Vec<usize> {
        self.n[..self.dim].to_vec()
    }
    #[inline]
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.n[0] * (j + self.n[1] * k)
    }
    #[inline]
    pub fn ijk(&self, idx: usize) -> [usize; 3] {
        let i = idx % self.n[0];
        let r = idx / self.n[0];
        [i, r % self.n[1], r / self.n[1]]
    }
    /// Coordinate of cell centre `i` along axis `a`, nm (0 on absent axes).
    #[inline]
    pub fn center_coord(&self, a: usize, i: usize) -> f64 {
        if a >= self.dim {
            0.0
        } else {
            self.origin[a] + (i as f64 + 0.5) * self.h[a]
        }
    }
    pub fn center(&self, idx: usize) -> [f64; 3] {
        let [i, j, k] = self.ijk(idx);
        [self.center_coord(0, i), self.center_coord(1, j), self.center_coord(2, k)]
    }
    /// Cell-centre coordinates along axis `a`, nm.
    pub fn axis_centers(&self, a: usize) -> Vec<f64> {
        (0..self.n[a]).map(|i| self.center_coord(a, i)).collect()
    }
    /// Upper corner of the domain, nm.
    pub fn upper(&self) -> [f64; 3] {
        let mut u = [0.0; 3];
        for a in 0..self.dim {
            u[a] = self.origin[a] + self.n[a] as f64 * self.h[a];
        }
        u
    }
    /// Distance in the flat index between neighbours along axis `a`.
    pub fn stride(&self, a: usize) -> usize {
        match a {
            0 => 1,
            1 => self.n[0],
            _ => self.n[0] * self.n[1],
        }
    }
    /// Cell volume in nm^dim.
    pub fn cell_volume(&self) -> f64 {
        self.h[..self.dim].iter().product()
    }
}

/// The fill at point `p`: the last region whose shape contains it (region i is fill i + 1),
/// or 0 (the background).
pub fn fill_at(shapes: &[&crate::scene::Shape], p: [f64; 3]) -> u16 {
    let mut f = 0u16;
    for (r, s) in shapes.iter().enumerate() {
        if shapes::contains(s, p) {
            f = (r + 1) as u16;
        }
    }
    f
}

/// Which fill (index into the scene's fill list; 0 = background) occupies each cell, with
/// volume fractions in cells that an interface cuts.
#[derive(Clone, Debug)]
pub struct MaterialMap {
    /// The fill with the largest share of each cell.
    pub dominant: Vec<u16>,
    /// Cells shared by several fills: (cell, [(fill, fraction)]), fractions summing to 1.
    pub mixed: Vec<(usize, Vec<(u16, f64)>)>,
}

impl MaterialMap {
    /// Paint `shapes` (region i has fill i + 1; fill 0 is the background) onto the grid,
    /// later regions winning. Cells whose centre and corners do not all agree are sampled
    /// with `sub`^dim points to get volume fractions, so interfaces that cut cells are
    /// smoothed rather than staircased.
    pub fn paint(grid: &Grid, shapes: &[&crate::scene::Shape], sub: usize) -> MaterialMap {
        use rayon::prelude::*;
        let which = |p: [f64; 3]| fill_at(shapes, p);
        let n = grid.len();
        let dim = grid.dim;
        let results: Vec<(u16, Option<Vec<(u16, f64)>>)> = (0..n)
            .into_par_iter()
            .map(|idx| {
                let c = grid.center(idx);
                let f0 = which(c);
                if shapes.is_empty() {
                    return (0, None);
                }
                // corners
                let mut uniform = true;
                let corners = 1usize << dim;
                for m in 0..corners {
                    let mut p = c;
                    for a in 0..dim {
                        let s = if (m >> a) & 1 == 1 { 0.5 } else { -0.5 };
                        p[a] += s * grid.h[a] * 0.999_999;
                    }
                    if which(p) != f0 {
                        uniform = false;
                        break;
                    }
                }
                if uniform {
                    return (f0, None);
                }
                let mut counts: Vec<(u16, usize)> = Vec::new();
                let per = [sub, if dim >= 2 { sub } else { 1 }, if dim >= 3 { sub } else { 1 }];
                let total = per[0] * per[1] * per[2];
                for kz in 0..per[2] {
                    for ky in 0..per[1] {
                        for kx in 0..per[0] {
                            let ks = [kx, ky, kz];
                            let mut p = c;
                            for a in 0..dim {
                                p[a] += ((ks[a] as f64 + 0.5) / per[a] as f64 - 0.5) * grid.h[a];
                            }
                            let f = which(p);
                            match counts.iter_mut().find(|e| e.0 == f) {
                                Some(e) => e.1 += 1,
                                None => counts.push((f, 1)),
                            }
                        }
                    }
                }
                if counts.len() == 1 {
                    return (counts[0].0, None);
                }
                counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let fr: Vec<(u16, f64)> = counts.iter().map(|&(f, c)| (f, c as f64 / total as f64)).collect();
                (counts[0].0, Some(fr))
            })
            .collect();
        let mut dominant = Vec::with_capacity(n);
        let mut mixed = Vec::new();
        for (idx, (d, m)) in results.into_iter().enumerate() {
            dominant.push(d);
            if let Some(m) = m {
                mixed.push((idx, m));
            }
        }
        MaterialMap { dominant, mixed }
    }

    /// Face coefficients of a diffusion-type operator (e.g. ħ²/2m*) for every face that
    /// touches a cut cell, keyed by (cell, axis) for the face between `cell` and its upper
    /// neighbour along `axis` (wrapping on periodic axes). Each is sampled on `sub` lines
    /// per tangential axis crossing the face, each line running from one cell centre to
    /// the other through `sub` points: the coefficient is harmonic along the line (series
    /// conduction across an interface) and arithmetic across the lines (parallel), which
    /// is exact for planar interfaces of any orientation to the grid's axes in the limit
    /// of many samples and reduces to the harmonic mean of two uniform cells.
    pub fn face_coefficients(
        &self,
        grid: &Grid,
        shapes: &[&crate::scene::Shape],
        per_fill: &[f64],
        sub: usize,
    ) -> std::collections::HashMap<(usize, usize), f64> {
        use rayon::prelude::*;
        let dim = grid.dim;
        let mut faces: Vec<(usize, usize)> = Vec::new();
        for (idx, _) in &self.mixed {
            let ijk = grid.ijk(*idx);
            for a in 0..dim {
                let stride = grid.stride(a);
                // upper face
                if ijk[a] + 1 < grid.n[a] || grid.periodic[a] {
                    faces.push((*idx, a));
                }
                // lower face, owned by the lower neighbour
                if ijk[a] > 0 {
                    faces.push((*idx - stride, a));
                } else if grid.periodic[a] {
                    faces.push((*idx + (grid.n[a] - 1) * stride, a));
                }
            }
        }
        faces.sort_unstable();
        faces.dedup();
        let tangential: Vec<usize> = (0..dim).collect();
        faces
            .into_par_iter()
            .map(|(idx, a)| {
                let c = grid.center(idx);
                let others: Vec<usize> = tangential.iter().copied().filter(|&b| b != a).collect();
                let lines = sub.pow(others.len() as u32);
                let mut sum = 0.0;
                for t in 0..lines {
                    let mut p0 = c;
                    let mut rem = t;
                    for &b in &others {
                        let k = rem % sub;
                        rem /= sub;
                        p0[b] += ((k as f64 + 0.5) / sub as f64 - 0.5) * grid.h[b];
                    }
                    let mut inv = 0.0;
                    for k in 0..sub {
                        let mut p = p0;
                        p[a] += (k as f64 + 0.5) / sub as f64 * grid.h[a];
                        inv += 1.0 / per_fill[fill_at(shapes, p) as usize];
                    }
                    sum += sub as f64 / inv;
                }
                ((idx, a), sum / lines as f64)
            })
            .collect()
    }

    /// Cell averages of a per-fill property (volume-weighted in cut cells).
    pub fn average(&self, per_fill: &[f64]) -> Vec<f64> {
        let mut out: Vec<f64> = self.dominant.iter().map(|&f| per_fill[f as usize]).collect();
        for (idx, fr) in &self.mixed {
            out[*idx] = fr.iter().map(|&(f, w)| w * per_fill[f as usize]).sum();
        }
        out
    }
}
