//! How a scene's [`Domain`] is cut into cells, the domain centred on the origin. Per axis:
//! - uniform (no `nodes`, no `refine` on it): round(size / spacing) cells (at least 3, at
//!   most 1e9) of size size / count;
//! - explicit nodes (`domain.nodes.x`, ...): the given cell boundaries, strictly increasing
//!   from −size/2 to +size/2 (within 1e-9·size; the ends are snapped to ±size/2);
//! - refinement zones (`domain.refine`): the wanted width at x is
//!   inside a zone [from, to] equal cells of ceil((to − from)/h_z) per zone, its ends
//!   nodes (overlapping zones of one spacing merge); between zones (and between a zone
//!   and the domain's end) the wanted width is s(x) = min(spacing, h_l + ln(r)·(x − p),
//!   h_r + ln(r)·(q − x)) for the stretch (p, q) with zone spacings h_l, h_r on its sides,
//!   and its N = ceil(∫ dx / s) cells equidistribute ∫ dx / s (each holds c = ∫/N ≤ 1), so
//!   every width is at most s where it lies and neighbours differ by at most
//!   e^(c·ln r) ≤ r = GRADING_RATIO, except at a zone's edge, where the first cell of the
//!   stretch is c·h_l to h_l wide (c ≥ N_f/(N_f + 1), N_f = ∫ dx/s of the stretch).
//!
//! The rule lives here, with the scene, so that validation can judge a domain without a
//! grid; `grid::Grid::from_domain` builds on [`Domain::cells`].

use super::{Domain, Spacing};
use crate::constants::GRADING_RATIO;
use crate::error::{QdError, Result};

const AXES: [&str; 3] = ["x", "y", "z"];

/// Most cells along one axis.
const MAX_AXIS_CELLS: f64 = 1e9;

/// The cells of a domain: counts, sizes, lower corner and periodicity per axis (absent
/// axes: 1 cell, size 1, corner 0, not periodic), and the node coordinates of a graded grid.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainCells {
    /// 1, 2 or 3.
    pub dim: usize,
    /// Cells per axis (1 on absent axes).
    pub n: [usize; 3],
    /// Cell size per axis, nm (1 on absent axes, unused there); on a graded grid the
    /// smallest width of the axis.
    pub h: [f64; 3],
    /// Lower corner of the domain, nm (0 on absent axes).
    pub origin: [f64; 3],
    /// Periodic boundary per axis.
    pub periodic: [bool; 3],
    /// Graded grids: the n[a] + 1 cell boundaries of every axis, nm (uniform axes too;
    /// absent axes [0, 1]). None: uniform on every axis.
    pub nodes: Option<[Vec<f64>; 3]>,
}

impl DomainCells {
    /// Cell counts of the axes that exist.
    pub fn dims(&self) -> Vec<usize> {
        self.n[..self.dim].to_vec()
    }
    /// Coordinate of cell centre `i` along axis `a`, nm (0 on absent axes).
    pub fn center_coord(&self, a: usize, i: usize) -> f64 {
        if a >= self.dim {
            0.0
        } else if let Some(x) = &self.nodes {
            0.5 * (x[a][i] + x[a][i + 1])
        } else {
            self.origin[a] + (i as f64 + 0.5) * self.h[a]
        }
    }
}

/// How one axis is cut.
enum AxisCut {
    Uniform(usize, f64),
    Nodes(Vec<f64>),
}

impl Domain {
    /// The field that makes the grid graded (for messages refusing one), or None.
    pub fn graded_field(&self) -> Option<&'static str> {
        if self.nodes.as_ref().is_some_and(|n| (0..3).any(|a| n.axis(a).is_some())) {
            Some("domain.nodes")
        } else if self.refine.as_ref().is_some_and(|r| !r.is_empty()) {
            Some("domain.refine")
        } else {
            None
        }
    }

    /// Cut the domain into cells (see the module header). Errors name the field.
    pub fn cells(&self) -> Result<DomainCells> {
        let d = self;
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
        if let Some(nodes) = &d.nodes {
            for (a, name) in AXES.iter().enumerate().skip(dim) {
                if nodes.axis(a).is_some() {
                    return Err(QdError::input(format!("domain.nodes.{name}"), format!("is given but the domain has {dim} axes")));
                }
            }
        }
        let zones = self.zones(dim, &spacing)?;
        let mut g = DomainCells { dim, n: [1; 3], h: [1.0; 3], origin: [0.0; 3], periodic: [false; 3], nodes: None };
        let mut cuts = Vec::with_capacity(dim);
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
            let cut = if let Some(x) = d.nodes.as_ref().and_then(|n| n.axis(a)) {
                AxisCut::Nodes(explicit_nodes(a, size, x)?)
            } else if !zones[a].is_empty() {
                AxisCut::Nodes(graded_nodes(a, size, h, &zones[a])?)
            } else {
                let cells = (size / h).round();
                if cells < 3.0 {
                    return Err(QdError::input(
                        "domain.spacing",
                        format!("gives {cells} cells along {} (size {size} nm / spacing {h} nm): at least 3 are needed", AXES[a]),
                    ));
                }
                if cells > MAX_AXIS_CELLS {
                    return Err(QdError::input("domain.spacing", format!("gives {cells:e} cells along {}: far too many", AXES[a])));
                }
                AxisCut::Uniform(cells as usize, size / cells)
            };
            g.origin[a] = -size / 2.0;
            g.periodic[a] = periodic[a];
            match &cut {
                AxisCut::Uniform(n, w) => {
                    g.n[a] = *n;
                    g.h[a] = *w;
                }
                AxisCut::Nodes(x) => {
                    g.n[a] = x.len() - 1;
                    g.h[a] = x.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
                }
            }
            cuts.push(cut);
        }
        if cuts.iter().any(|c| matches!(c, AxisCut::Nodes(_))) {
            let mut nodes: [Vec<f64>; 3] = [vec![0.0, 1.0], vec![0.0, 1.0], vec![0.0, 1.0]];
            for (a, c) in cuts.into_iter().enumerate() {
                nodes[a] = match c {
                    AxisCut::Nodes(x) => x,
                    AxisCut::Uniform(n, w) => (0..=n).map(|i| g.origin[a] + i as f64 * w).collect(),
                };
            }
            g.nodes = Some(nodes);
        }
        Ok(g)
    }

    /// The refinement zones per axis, (from, to, spacing) in nm, checked: inside the
    /// domain, from < to, 0 < spacing ≤ the coarse spacing, overlapping zones of one axis
    /// with the same spacing only, not on an axis with explicit nodes.
    fn zones(&self, dim: usize, spacing: &[f64]) -> Result<[Vec<(f64, f64, f64)>; 3]> {
        let mut out: [Vec<(f64, f64, f64)>; 3] = Default::default();
        let mut owner: [Vec<usize>; 3] = Default::default();
        for (k, z) in self.refine.iter().flatten().enumerate() {
            let f = |s: &str| format!("domain.refine[{k}].{s}");
            let axes: Vec<usize> = match z.axis {
                Some(ax) => {
                    let a = ax.index();
                    if a >= dim {
                        return Err(QdError::input(f("axis"), format!("is {} but the domain has {dim} axes", AXES[a])));
                    }
                    vec![a]
                }
                None => (0..dim).collect(),
            };
            if !(z.spacing.is_finite() && z.spacing > 0.0) {
                return Err(QdError::input(f("spacing"), format!("must be a positive length in nm, got {}", z.spacing)));
            }
            if !z.from.is_finite() {
                return Err(QdError::input(f("from"), format!("must be a finite coordinate in nm, got {}", z.from)));
            }
            if !z.to.is_finite() {
                return Err(QdError::input(f("to"), format!("must be a finite coordinate in nm, got {}", z.to)));
            }
            if z.from >= z.to {
                return Err(QdError::input(f("to"), format!("must exceed from ({} nm), got {} nm", z.from, z.to)));
            }
            for a in axes {
                let half = self.size.get(a).copied().unwrap_or(0.0) / 2.0;
                let tol = 1e-9 * half.abs();
                if z.from < -half - tol || z.to > half + tol {
                    let which = if z.from < -half - tol { f("from") } else { f("to") };
                    return Err(QdError::input(
                        which,
                        format!("the zone [{}, {}] nm lies (partly) outside the domain along {}, which spans [{}, {}] nm", z.from, z.to, AXES[a], -half, half),
                    ));
                }
                if self.nodes.as_ref().and_then(|n| n.axis(a)).is_some() {
                    return Err(QdError::input(
                        if z.axis.is_some() { f("axis") } else { format!("domain.refine[{k}]") },
                        format!("refines {} but domain.nodes.{} gives that axis's nodes explicitly", AXES[a], AXES[a]),
                    ));
                }
                if z.spacing > spacing.get(a).copied().unwrap_or(f64::INFINITY) {
                    return Err(QdError::input(
                        f("spacing"),
                        format!("{} nm is coarser than the domain's spacing {} nm along {}: a zone refines", z.spacing, spacing[a], AXES[a]),
                    ));
                }
                for (j, &(lo, hi, h)) in out[a].iter().enumerate() {
                    if z.from < hi && lo < z.to && h != z.spacing {
                        return Err(QdError::input(
                            format!("domain.refine[{k}]"),
                            format!(
                                "overlaps domain.refine[{}] along {} with a different spacing ({} nm there, {} nm here): merge them or make them disjoint",
                                owner[a][j], AXES[a], h, z.spacing
                            ),
                        ));
                    }
                }
                out[a].push((z.from.max(-half), z.to.min(half), z.spacing));
                owner[a].push(k);
            }
        }
        Ok(out)
    }
}

/// Check and snap one axis's explicit nodes.
fn explicit_nodes(a: usize, size: f64, x: &[f64]) -> Result<Vec<f64>> {
    let f = format!("domain.nodes.{}", AXES[a]);
    if x.len() < 4 {
        return Err(QdError::input(f, format!("has {} nodes: at least 4 (3 cells) are needed", x.len())));
    }
    if x.len() as f64 - 1.0 > MAX_AXIS_CELLS {
        return Err(QdError::input(f, format!("has {} nodes: far too many", x.len())));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(QdError::input(format!("{f}[{i}]"), format!("must be a finite coordinate in nm, got {}", x[i])));
    }
    if let Some(i) = x.windows(2).position(|w| w[1] <= w[0]) {
        return Err(QdError::input(
            format!("{f}[{}]", i + 1),
            format!("must exceed the node before it ({} nm), got {} nm: nodes increase strictly", x[i], x[i + 1]),
        ));
    }
    let half = size / 2.0;
    let tol = 1e-9 * size;
    let (first, last) = (x[0], x[x.len() - 1]);
    if (first + half).abs() > tol || (last - half).abs() > tol {
        return Err(QdError::input(
            f,
            format!("runs from {first} to {last} nm but must span the domain, −size/2 to +size/2 = [{}, {half}] nm along {}", -half, AXES[a]),
        ));
    }
    let mut v = x.to_vec();
    v[0] = -half;
    *v.last_mut().expect("at least 4 nodes") = half;
    Ok(v)
}

/// The nodes of an axis of `size` nm, coarse spacing `coarse`, refined by `zones`
/// (see the module header).
fn graded_nodes(a: usize, size: f64, coarse: f64, zones: &[(f64, f64, f64)]) -> Result<Vec<f64>> {
    let (lo, hi) = (-size / 2.0, size / 2.0);
    let finest = zones.iter().map(|z| z.2).fold(coarse, f64::min);
    let bound = size / finest;
    if bound > MAX_AXIS_CELLS {
        return Err(QdError::input("domain.refine", format!("gives up to {bound:e} cells along {}: far too many", AXES[a])));
    }
    // zones sorted and merged (overlapping ones have the same spacing, checked before)
    let mut z: Vec<(f64, f64, f64)> = zones.to_vec();
    z.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut merged: Vec<(f64, f64, f64)> = Vec::new();
    for (z0, z1, h) in z {
        match merged.last_mut() {
            Some(m) if z0 < m.1 && h == m.2 => m.1 = m.1.max(z1),
            _ => merged.push((z0, z1, h)),
        }
    }
    let mut x = vec![lo];
    let (mut at, mut prev) = (lo, None);
    for &(z0, z1, h) in &merged {
        transition(&mut x, at, z0, coarse, prev, Some(h));
        // the zone itself: equal cells of at most h, from z0 to z1 exactly
        let cells = ((z1 - z0) / h - 1e-9).ceil().max(1.0) as usize;
        for i in 1..cells {
            x.push(z0 + (z1 - z0) * i as f64 / cells as f64);
        }
        if z1 > *x.last().expect("nodes start at lo") {
            x.push(z1);
        }
        at = z1;
        prev = Some(h);
    }
    transition(&mut x, at, hi, coarse, prev, None);
    if *x.last().expect("nodes start at lo") < hi {
        x.push(hi);
    }
    *x.last_mut().expect("nodes start at lo") = hi;
    if x.len() < 4 {
        return Err(QdError::input("domain.refine", format!("gives {} cells along {}: at least 3 are needed", x.len() - 1, AXES[a])));
    }
    Ok(x)
}

/// The interior nodes of the stretch (p, q) between refinement zones of spacings `left`
/// and `right` (None: the domain's end), pushed onto `x` followed by nothing (the caller
/// pushes q): the wanted width s grows at rate ln(GRADING_RATIO) away from each zone up
/// to `coarse`, and the N = ceil(∫ dx/s) cells equidistribute ∫ dx/s.
fn transition(x: &mut Vec<f64>, p: f64, q: f64, coarse: f64, left: Option<f64>, right: Option<f64>) {
    if q <= p {
        return;
    }
    let g = GRADING_RATIO.ln();
    let want = |t: f64| {
        let mut s = coarse;
        if let Some(h) = left {
            s = s.min(h + g * (t - p));
        }
        if let Some(h) = right {
            s = s.min(h + g * (q - t));
        }
        s
    };
    let finest = [left, right].iter().flatten().fold(coarse, |m, &h| m.min(h));
    let m = ((16.0 * (q - p) / finest).ceil() as usize).clamp(256, 1 << 22);
    let dx = (q - p) / m as f64;
    let mut cum = Vec::with_capacity(m + 1);
    cum.push(0.0);
    let mut prev = 1.0 / want(p);
    for i in 1..=m {
        let next = 1.0 / want(p + i as f64 * dx);
        cum.push(cum[i - 1] + 0.5 * (prev + next) * dx);
        prev = next;
    }
    let total = cum[m];
    let cells = ((total - 1e-9).ceil() as usize).max(1);
    let mut s = 0;
    if x.last().is_some_and(|&l| l < p) {
        x.push(p);
    }
    for j in 1..cells {
        let t = total * j as f64 / cells as f64;
        while s + 1 < m && cum[s + 1] < t {
            s += 1;
        }
        let frac = ((t - cum[s]) / (cum[s + 1] - cum[s])).clamp(0.0, 1.0);
        x.push(p + (s as f64 + frac) * dx);
    }
    x.push(q);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(json: &str) -> Domain {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn refinement_zone_grades_smoothly() {
        let d = domain(r#"{"size": [100, 40], "spacing": 2.0, "refine": [{"axis": "x", "from": -5, "to": 5, "spacing": 0.25}]}"#);
        let c = d.cells().unwrap();
        let x = &c.nodes.as_ref().unwrap()[0];
        let w: Vec<f64> = x.windows(2).map(|p| p[1] - p[0]).collect();
        assert!((x[0] + 50.0).abs() < 1e-12 && (x[x.len() - 1] - 50.0).abs() < 1e-12);
        // inside the zone at most the zone's spacing, nowhere more than the coarse one
        for (i, wi) in w.iter().enumerate() {
            assert!(*wi <= 2.0 + 1e-9);
            if x[i] >= -5.0 && x[i + 1] <= 5.0 {
                assert!(*wi <= 0.25 * (1.0 + 1e-6), "width {wi} at {}", x[i]);
            }
        }
        let worst = w.windows(2).map(|p| (p[1] / p[0]).max(p[0] / p[1])).fold(1.0, f64::max);
        assert!(worst <= GRADING_RATIO * 1.02, "neighbour ratio {worst}");
        // far fewer cells than the fine spacing everywhere
        assert!(c.n[0] < 100, "{} cells", c.n[0]);
        assert_eq!(c.n[1], 20);
        assert_eq!(c.nodes.as_ref().unwrap()[1].len(), 21);
    }

    #[test]
    fn uniform_domain_has_no_nodes() {
        let c = domain(r#"{"size": [10, 10], "spacing": 0.5}"#).cells().unwrap();
        assert!(c.nodes.is_none());
        assert_eq!(c.n, [20, 20, 1]);
    }

    #[test]
    fn bad_graded_input_names_the_field() {
        let field = |json: &str| match domain(json).cells() {
            Err(QdError::Input { path, .. }) => path,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "nodes": {"x": [-5, -1, -2, 5]}}"#), "domain.nodes.x[2]");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "nodes": {"x": [-5, -1, 2, 4]}}"#), "domain.nodes.x");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "nodes": {"y": [-5, -1, 2, 5]}}"#), "domain.nodes.y");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "refine": [{"from": -6, "to": 0, "spacing": 0.5}]}"#), "domain.refine[0].from");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "refine": [{"from": 1, "to": 0, "spacing": 0.5}]}"#), "domain.refine[0].to");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "refine": [{"from": -1, "to": 1, "spacing": 0}]}"#), "domain.refine[0].spacing");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "refine": [{"from": -1, "to": 1, "spacing": 2}]}"#), "domain.refine[0].spacing");
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "refine": [{"from": -1, "to": 1, "spacing": 1e-9}]}"#), "domain.refine");
        assert_eq!(
            field(r#"{"size": [10], "spacing": 1, "refine": [{"from": -2, "to": 1, "spacing": 0.5}, {"from": 0, "to": 2, "spacing": 0.25}]}"#),
            "domain.refine[1]"
        );
        assert_eq!(field(r#"{"size": [10], "spacing": 1, "refine": [{"axis": "z", "from": -1, "to": 1, "spacing": 0.5}]}"#), "domain.refine[0].axis");
        // the same spacing may overlap
        assert!(domain(r#"{"size": [10], "spacing": 1, "refine": [{"from": -2, "to": 1, "spacing": 0.5}, {"from": 0, "to": 2, "spacing": 0.5}]}"#).cells().is_ok());
    }
}
