//! Cut-cell geometry of second order: where an interface crosses a sampling line (bisection
//! on the shapes' inside test), the plane that reconstructs the interface of a cut cell
//! (least squares through the crossings of a few lines), and the integrals over that plane
//! that the painting needs (volume fractions, the fill along a face's line).
//!
//! Why planes: the finite-volume scheme is second order across an interface when each cut
//! cell carries the exact cell average of the band edge (volume fractions) and each face
//! the exact series (harmonic) conductance of the segment between the two cell centres.
//! Sampling at fixed points (4 per axis for fractions, 8 per line for faces) quantises the
//! interface to a fixed fraction of the cell; at a fixed cut fraction that error is a fixed
//! fraction of h, i.e. first order in the energies. A plane fitted to crossings located to
//! 1e-6 h deviates from a smooth interface by O(h²/R) inside the cell (R its radius of
//! curvature), so fractions and conductances computed from it err by O(h/R) of a cell, in
//! a band of cells one cell thick: an O(h²) change of the energies. All lengths are nm.

use crate::constants::{
    INTERFACE_BISECTION_TOL, INTERFACE_PLANE_FIT_TOL, INTERFACE_SEARCH_HALF_LENGTH, INTERFACE_SEARCH_SAMPLES_PER_H,
};

/// A cut cell's interface as a plane: φ(r) = w0 + w·r with r the offset from the cell's
/// centre (nm); fill `inside` where φ > 0, `outside` where φ ≤ 0. `axis` is the axis the
/// plane was fitted along (w[axis] = −1, so φ is the distance to the plane along it, nm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plane {
    pub inside: u16,
    pub outside: u16,
    pub axis: usize,
    pub w0: f64,
    pub w: [f64; 3],
}

impl Plane {
    #[inline]
    pub fn phi(&self, r: [f64; 3]) -> f64 {
        self.w0 + self.w[0] * r[0] + self.w[1] * r[1] + self.w[2] * r[2]
    }

    /// (inside, outside) lengths of the segment r0 → r1 (offsets from the cell centre, nm),
    /// whose length is `len`.
    #[inline]
    pub fn split(&self, r0: [f64; 3], r1: [f64; 3], len: f64) -> (f64, f64) {
        let f = positive_fraction(self.phi(r0), self.phi(r1));
        (f * len, (1.0 - f) * len)
    }

    /// The fill of the whole half cell from `from` to `from` + h/2 along `axis` (offsets
    /// from the centre, nm; the full cell along the other axes) when the plane misses it,
    /// else None: φ is linear, so its signs at the box's corners decide.
    pub fn side_of_box(&self, dim: usize, h: [f64; 3], axis: usize, from: f64) -> Option<u16> {
        let mut pos = 0;
        let corners = 1usize << dim;
        for m in 0..corners {
            let mut r = [0.0; 3];
            for a in 0..dim {
                let hi = (m >> a) & 1 == 1;
                r[a] = if a == axis { from + if hi { 0.5 * h[a] } else { 0.0 } } else if hi { 0.5 * h[a] } else { -0.5 * h[a] };
            }
            pos += usize::from(self.phi(r) > 0.0);
        }
        match pos {
            0 => Some(self.outside),
            p if p == corners => Some(self.inside),
            _ => None,
        }
    }

    /// The fraction of the cell (spacings `h`, `dim` axes) on the `inside` side, exactly:
    /// along the fit axis the inside length of a line is clamp(φ at its lower end, 0, h),
    /// a clamped linear function of the tangential offsets, integrated in closed form.
    pub fn volume_fraction(&self, dim: usize, h: [f64; 3]) -> f64 {
        let b = self.axis;
        let tang: Vec<usize> = (0..dim).filter(|&a| a != b).collect();
        // at the centre line: φ(r_b = −h/2)/h; its slope across the cell per tangential axis
        let a0 = (self.w0 + 0.5 * h[b]) / h[b];
        let mut s: Vec<f64> = tang.iter().map(|&t| self.w[t] * h[t] / h[b]).collect();
        // larger slope first, so that the result does not depend on the axes' order
        s.sort_by(|x, y| y.abs().total_cmp(&x.abs()));
        match s.len() {
            0 => a0.clamp(0.0, 1.0),
            1 => mean_clamped(a0, s[0]),
            _ => mean_clamped_2(a0, s[0], s[1]),
        }
    }
}

/// G(x) = ∫_{−∞}^x clamp(y, 0, 1) dy: 0, x²/2 and x − 1/2 on x < 0, [0, 1], x > 1.
fn g1(x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x <= 1.0 {
        0.5 * x * x
    } else {
        x - 0.5
    }
}

/// ∫_{−∞}^x G: 0, x³/6 and x²/2 − x/2 + 1/6.
fn g2(x: f64) -> f64 {
    if x <= 0.0 {
        0.0
    } else if x <= 1.0 {
        x * x * x / 6.0
    } else {
        0.5 * x * x - 0.5 * x + 1.0 / 6.0
    }
}

/// Below this slope a difference quotient of G loses too many digits: midpoints instead.
const SMALL_SLOPE: f64 = 1e-3;

/// The mean over u ∈ [−1/2, 1/2] of clamp(a + s·u, 0, 1), exactly (midpoints for a slope
/// below `SMALL_SLOPE`, where the error is below s²/8 ≤ 1.3e-7 at a kink, 0 elsewhere).
fn mean_clamped(a: f64, s: f64) -> f64 {
    if s.abs() < SMALL_SLOPE {
        let k = 8;
        return (0..k).map(|j| (a + s * ((j as f64 + 0.5) / k as f64 - 0.5)).clamp(0.0, 1.0)).sum::<f64>() / k as f64;
    }
    (g1(a + 0.5 * s) - g1(a - 0.5 * s)) / s
}

/// The mean over the unit square of clamp(a + s1·u + s2·v, 0, 1), |s1| ≥ |s2|.
fn mean_clamped_2(a: f64, s1: f64, s2: f64) -> f64 {
    if s2.abs() < SMALL_SLOPE || s1.abs() < SMALL_SLOPE {
        let k = 8;
        return (0..k).map(|j| mean_clamped(a + s2 * ((j as f64 + 0.5) / k as f64 - 0.5), s1)).sum::<f64>() / k as f64;
    }
    let (h1, h2) = (0.5 * s1, 0.5 * s2);
    (g2(a + h1 + h2) - g2(a - h1 + h2) - g2(a + h1 - h2) + g2(a - h1 - h2)) / (s1 * s2)
}

/// The fraction of a segment on which a linear function going from `p0` to `p1` is > 0.
#[inline]
pub fn positive_fraction(p0: f64, p1: f64) -> f64 {
    match (p0 > 0.0, p1 > 0.0) {
        (true, true) => 1.0,
        (false, false) => 0.0,
        // the root u = p0/(p0 − p1) ∈ [0, 1]; the clamp guards against rounding
        (true, false) => (p0 / (p0 - p1)).clamp(0.0, 1.0),
        (false, true) => (1.0 - p0 / (p0 - p1)).clamp(0.0, 1.0),
    }
}

/// The fill along the segment p + u·e_axis, u from `u0` to `u1` (nm): sampled at
/// `samples` + 1 evenly spaced points (both ends included), each change between two samples
/// located by bisection to `tol` nm. Returns the fill at u0 and the changes as (u, fill
/// after), ascending. A feature thinner than the sample spacing can be missed.
pub fn transitions(
    which: &dyn Fn([f64; 3]) -> u16,
    p: [f64; 3],
    axis: usize,
    (u0, u1): (f64, f64),
    samples: usize,
    tol: f64,
) -> (u16, Vec<(f64, u16)>) {
    let at = |u: f64| {
        let mut q = p;
        q[axis] += u;
        which(q)
    };
    let samples = samples.max(1);
    let first = at(u0);
    let mut out = Vec::new();
    let (mut ua, mut fa) = (u0, first);
    for j in 1..=samples {
        let ub = if j == samples { u1 } else { u0 + (u1 - u0) * j as f64 / samples as f64 };
        let fb = at(ub);
        if fb != fa {
            // the first change after ua: keep [lo, hi] with fill(lo) = fa ≠ fill(hi)
            let (mut lo, mut hi, mut fh) = (ua, ub, fb);
            while hi - lo > tol {
                let m = 0.5 * (lo + hi);
                let fm = at(m);
                if fm == fa {
                    lo = m;
                } else {
                    hi = m;
                    fh = fm;
                }
            }
            out.push((0.5 * (lo + hi), fh));
            // a second change inside the same sample interval (fh ≠ fb) is found from hi on
            if fh != fb {
                let (f2, more) = transitions(which, p, axis, (hi, ub), 1, tol);
                debug_assert_eq!(f2, fh);
                out.extend(more);
            }
        }
        ua = ub;
        fa = fb;
    }
    (first, out)
}

/// Lengths per fill of the segment p + u·e_axis, u ∈ [u0, u1], from [`transitions`].
pub fn segment_lengths(which: &dyn Fn([f64; 3]) -> u16, p: [f64; 3], axis: usize, span: (f64, f64), samples: usize, tol: f64, out: &mut Vec<(u16, f64)>) {
    let (first, changes) = transitions(which, p, axis, span, samples, tol);
    let mut add = |f: u16, l: f64| match out.iter_mut().find(|e| e.0 == f) {
        Some(e) => e.1 += l,
        None => out.push((f, l)),
    };
    let (mut u, mut f) = (span.0, first);
    for (uc, fc) in changes {
        add(f, uc - u);
        u = uc;
        f = fc;
    }
    add(f, span.1 - u);
}

/// Axes ordered by how well they suit lines crossing the interface of a cut cell: by the
/// size of the normal's component estimated from which corners (offsets `corners`, in
/// half-spacings ±1) hold the centre's fill. The second list holds the leading axes that
/// tie (a plane fitted along each is averaged, so that the painting keeps the symmetries
/// of the shapes: a sphere's cells cut at one corner tie on all three axes).
pub fn axes_by_normal(dim: usize, corners: &[([f64; 3], bool)]) -> (Vec<usize>, usize) {
    let mut g = [0.0f64; 3];
    for (s, same) in corners {
        for a in 0..dim {
            g[a] += if *same { s[a] } else { -s[a] };
        }
    }
    let mut axes: Vec<usize> = (0..dim).collect();
    axes.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()).then(a.cmp(&b)));
    let tied = axes.iter().take_while(|&&a| g[a].abs() == g[axes[0]].abs()).count();
    (axes, tied)
}

/// Reconstruct the interface of the cell centred at `c` (spacings `h`) as a plane, from
/// `lines` lines per tangential axis along `axis`, each searched for its single crossing
/// within `INTERFACE_SEARCH_HALF_LENGTH` spacings of the centre. None when a line has no
/// crossing or more than one, the lines disagree on the two fills or their order, or the
/// crossings deviate from their least-squares plane by more than
/// `INTERFACE_PLANE_FIT_TOL` spacings (edges and corners of shapes, thin features).
pub fn fit_plane(which: &dyn Fn([f64; 3]) -> u16, dim: usize, h: [f64; 3], c: [f64; 3], axis: usize, lines: usize) -> Option<Plane> {
    let tang: Vec<usize> = (0..dim).filter(|&a| a != axis).collect();
    let lines = lines.max(2);
    let count = lines.pow(tang.len() as u32);
    let hb = h[axis];
    let half = INTERFACE_SEARCH_HALF_LENGTH * hb;
    let samples = (2.0 * INTERFACE_SEARCH_HALF_LENGTH) as usize * INTERFACE_SEARCH_SAMPLES_PER_H;
    let tol = INTERFACE_BISECTION_TOL * hb;
    let mut pair: Option<(u16, u16)> = None;
    // (tangential offsets, crossing along axis), nm from the centre
    let mut pts: Vec<([f64; 2], f64)> = Vec::with_capacity(count);
    for t in 0..count {
        let mut off = [0.0; 2];
        let mut p = c;
        let mut rem = t;
        for (k, &a) in tang.iter().enumerate() {
            off[k] = ((rem % lines) as f64 + 0.5) / lines as f64 * h[a] - 0.5 * h[a];
            p[a] += off[k];
            rem /= lines;
        }
        let (first, ch) = transitions(which, p, axis, (-half, half), samples, tol);
        if ch.len() != 1 {
            return None;
        }
        let this = (first, ch[0].1);
        if *pair.get_or_insert(this) != this {
            return None;
        }
        pts.push((off, ch[0].0));
    }
    let (lo, hi) = pair?;
    // least squares s = s0 + g·t on a centred tensor grid: the normal equations are diagonal
    let n = pts.len() as f64;
    let s0 = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let mut g = [0.0; 2];
    for (k, gk) in g.iter_mut().enumerate().take(tang.len()) {
        let stt: f64 = pts.iter().map(|p| p.0[k] * p.0[k]).sum();
        *gk = pts.iter().map(|p| p.0[k] * p.1).sum::<f64>() / stt;
    }
    let fit = |p: &([f64; 2], f64)| s0 + (0..tang.len()).map(|k| g[k] * p.0[k]).sum::<f64>();
    if pts.iter().any(|p| (p.1 - fit(p)).abs() > INTERFACE_PLANE_FIT_TOL * hb) {
        return None;
    }
    // φ = s(t) − r_axis > 0 below the crossing, where the line starts (fill `lo`)
    let mut w = [0.0; 3];
    for (k, &a) in tang.iter().enumerate() {
        w[a] = g[k];
    }
    w[axis] = -1.0;
    Some(Plane { inside: lo, outside: hi, axis, w0: s0, w })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tilted plane is recovered to the bisection tolerance, and its volume fraction is
    /// that of the exact polyhedron (here a prism: the plane cuts two opposite faces).
    #[test]
    fn a_tilted_plane_is_recovered() {
        let h = [0.5, 0.5, 0.5];
        // inside: z < 0.1 + 0.3 x (fill 1), the cell centred at the origin
        let which = |p: [f64; 3]| u16::from(p[2] < 0.1 + 0.3 * p[0]);
        let (axes, tied) = axes_by_normal(3, &[([1.0, 1.0, 1.0], false), ([-1.0, -1.0, -1.0], true)]);
        assert_eq!((axes[0], tied), (0, 3));
        let pl = fit_plane(&which, 3, h, [0.0; 3], 2, 4).expect("a plane");
        assert_eq!((pl.inside, pl.outside), (1, 0));
        assert!((pl.w0 - 0.1).abs() < 1e-6 && (pl.w[0] - 0.3).abs() < 2e-6 && pl.w[1].abs() < 2e-6, "{pl:?}");
        // exact: mean over x of (0.1 + 0.3x + 0.25)/0.5 = 0.7
        assert!((pl.volume_fraction(3, h) - 0.7).abs() < 1e-5);
        // two crossings per line (a slab thinner than the search) → no plane
        let slab = |p: [f64; 3]| u16::from(p[2].abs() < 0.2);
        assert!(fit_plane(&slab, 3, h, [0.0; 3], 2, 4).is_none());
        // a box corner: no plane within tolerance
        let corner = |p: [f64; 3]| u16::from(p[0] < 0.0 && p[2] < 0.0);
        assert!(fit_plane(&corner, 3, h, [0.0; 3], 2, 4).is_none());
    }

    /// The exact integral across a line's kinks against a fine midpoint sum.
    #[test]
    fn mean_clamped_is_exact() {
        let n = 2000;
        let mid = |i: usize| (i as f64 + 0.5) / n as f64 - 0.5;
        for (a, s) in [(0.5, 0.3), (0.1, 2.0), (-0.2, 1.5), (1.1, -3.0), (0.9, 1e-8), (2.0, 0.5)] {
            let want = (0..n).map(|i| (a + s * mid(i)).clamp(0.0, 1.0)).sum::<f64>() / n as f64;
            assert!((mean_clamped(a, s) - want).abs() < 1e-7, "{a} {s}: {} vs {want}", mean_clamped(a, s));
            for s2 in [0.7 * s, -0.3 * s, 1e-5] {
                let (s1, s2) = if s.abs() >= s2.abs() { (s, s2) } else { (s2, s) };
                let want: f64 = (0..n).map(|j| (0..n).map(|i| (a + s1 * mid(i) + s2 * mid(j)).clamp(0.0, 1.0)).sum::<f64>()).sum::<f64>() / (n * n) as f64;
                assert!((mean_clamped_2(a, s1, s2) - want).abs() < 1e-6, "{a} {s1} {s2}: {} vs {want}", mean_clamped_2(a, s1, s2));
            }
        }
    }

    #[test]
    fn segment_lengths_find_every_change() {
        let which = |p: [f64; 3]| if p[0] < 0.123 { 0 } else if p[0] < 0.13 { 2 } else { 1 };
        let mut out = Vec::new();
        segment_lengths(&which, [0.0; 3], 0, (0.0, 1.0), 8, 1e-9, &mut out);
        out.sort_by_key(|e| e.0);
        assert!((out[0].1 - 0.123).abs() < 1e-8 && (out[1].1 - 0.87).abs() < 1e-8 && (out[2].1 - 0.007).abs() < 1e-8, "{out:?}");
    }
}
