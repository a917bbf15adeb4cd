//! Painting the scene's shapes onto a [`Grid`]: the [`MaterialMap`] (which fill occupies
//! each cell, with volume fractions in cut cells, and the face coefficients of cut faces),
//! the sample counts it uses, and the progress report of these setup phases.

use super::interface::{self, Plane};
use super::shape_index::{brute_force, ShapeIndex};
use super::Grid;
use crate::constants::INTERFACE_BISECTION_TOL;
use crate::scene::Shape;

/// Sample lines per tangential axis (and samples per half line) for faces next to a cut
/// cell whose interface is not a plane (with a plane the faces are integrated across it).
pub const FACE_SAMPLES: usize = 8;
/// Lines per tangential axis through a cut cell: they locate the plane of its interface, or
/// integrate its volume fractions where it has none.
pub const SUBSAMPLES: usize = 4;

/// The fill at point `p`: the last region whose shape contains it (region i is fill i + 1),
/// or 0 (the background). Tests every shape: for many points use [`ShapeIndex`].
pub fn fill_at(shapes: &[&Shape], p: [f64; 3]) -> u16 {
    brute_force(shapes, p)
}

/// Progress of a setup phase that can take long (painting many regions on a large grid):
/// `done` of `total` items (cells or faces) of `phase`.
#[derive(Clone, Copy, Debug)]
pub struct SetupProgress {
    pub phase: &'static str,
    pub done: usize,
    pub total: usize,
}

type SetupHook = Box<dyn FnMut(&SetupProgress)>;

thread_local! {
    static SETUP_HOOK: std::cell::RefCell<Option<SetupHook>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` with `hook` receiving the progress of the setup phases that `f` runs on this
/// thread (the painting of [`MaterialMap`], its face coefficients, the gates). The CLI
/// shows it as a progress bar; without a hook nothing is reported.
pub fn with_setup_progress<R>(hook: SetupHook, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<SetupHook>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            SETUP_HOOK.with(|h| {
                if let Ok(mut h) = h.try_borrow_mut() {
                    *h = prev;
                }
            });
        }
    }
    let prev = SETUP_HOOK.with(|h| h.borrow_mut().replace(hook));
    let _restore = Restore(prev);
    f()
}

fn report_setup(phase: &'static str, done: usize, total: usize) {
    SETUP_HOOK.with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            if let Some(h) = h.as_mut() {
                h(&SetupProgress { phase, done, total });
            }
        }
    });
}

/// `f` over 0..n in parallel, in order, in chunks with the progress reported between them.
pub(super) fn par_map_reporting<T: Send>(phase: &'static str, n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    let chunk = (n / 100).max(1 << 12);
    let mut out = Vec::with_capacity(n);
    report_setup(phase, 0, n);
    let mut s = 0;
    while s < n {
        let e = (s + chunk).min(n);
        out.par_extend((s..e).into_par_iter().map(&f));
        s = e;
        report_setup(phase, s, n);
    }
    out
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
    /// later regions winning. Cells whose centre and corners do not all agree are cut cells:
    /// their interface is reconstructed as a plane from `sub` lines per tangential axis
    /// whose crossings are found by bisection ([`interface::fit_plane`]) and the volume
    /// fractions integrated across it; where no plane fits (edges, corners, three fills)
    /// the fractions are integrated along `sub`^(dim−1) lines with bisected crossings.
    ///
    /// Each cell tests only the regions whose bounding boxes reach it
    /// ([`ShapeIndex`]), so the cost is about cells × (regions per cell), and the
    /// result is exactly that of testing every region at every point.
    pub fn paint(grid: &Grid, shapes: &[&Shape], sub: usize) -> MaterialMap {
        let index = ShapeIndex::new(grid, shapes);
        Self::paint_with(grid, sub, shapes.is_empty(), &|idx| index.cell_candidates(grid, idx), &|cand, p| index.fill_among(cand, p), &|p| index.fill_at(p))
    }

    /// [`Self::paint`] with the point queries given: `cand(cell)` the candidates of a cell,
    /// `among(cand, p)` the fill at a point of that cell, `at(p)` the fill anywhere.
    fn paint_with<'c>(
        grid: &Grid,
        sub: usize,
        empty: bool,
        cand: &(dyn Fn(usize) -> Option<&'c [u32]> + Sync),
        among: &(dyn Fn(Option<&'c [u32]>, [f64; 3]) -> u16 + Sync),
        at: &(dyn Fn([f64; 3]) -> u16 + Sync),
    ) -> MaterialMap {
        type Cell = (u16, Option<Vec<(u16, f64)>>);
        let n = grid.len();
        let dim = grid.dim;
        let results: Vec<Cell> = par_map_reporting("painting the regions", n, |idx| {
            let cd = cand(idx);
            if empty || cd.is_some_and(|c| c.is_empty()) {
                return (0, None);
            }
            let c = grid.center(idx);
            let w = grid.cell_widths(idx);
            let f0 = among(cd, c);
            // corners
            let corners = 1usize << dim;
            // (no allocation before a cell is known to be cut: most cells are not)
            let mut signs = [([0.0; 3], true); 8];
            let (mut other, mut three) = (None, false);
            for (m, sign) in signs.iter_mut().enumerate().take(corners) {
                let mut p = c;
                for (a, (pa, sa)) in p.iter_mut().zip(sign.0.iter_mut()).enumerate().take(dim) {
                    *sa = if (m >> a) & 1 == 1 { 1.0 } else { -1.0 };
                    *pa += 0.5 * *sa * w[a] * 0.999_999;
                }
                let f = among(cd, p);
                sign.1 = f == f0;
                if f != f0 {
                    three |= other.is_some_and(|o| o != f);
                    other = Some(f);
                }
            }
            if other.is_none() {
                return (f0, None);
            }
            let (axes, tied) = interface::axes_by_normal(dim, &signs[..corners]);
            let mut fr: Vec<(u16, f64)> = match if three { None } else { planar_fractions(grid, c, w, &axes, tied, sub, at) } {
                Some(fr) => fr,
                // along each tied axis, averaged: mirror images get the same fractions
                None => mean_fractions(axes[..tied].iter().map(|&b| cell_by_lines(grid, c, w, b, sub, at)).collect()),
            };
            fr.retain(|e| e.1 > 0.0);
            fr.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            if fr.len() == 1 {
                return (fr[0].0, None);
            }
            (fr[0].0, Some(fr))
        });
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

    /// Face coefficients of a diffusion-type operator (e.g. ħ²/2m*, or εr) for every face
    /// that touches a cut cell, keyed by (cell, axis) for the face between `cell` and its
    /// upper neighbour along `axis` (wrapping on periodic axes). Each is the series
    /// (harmonic) coefficient of the segment between the two cell centres, h / ∫ dx/a(x),
    /// with the interface's crossings found by bisection from `sub` samples: the two-point
    /// flux that is exact when the gradient is normal to the interface (continuity of ψ
    /// and of a ∂ψ/∂n, for any orientation of the interface to the axes), and that
    /// reduces to the harmonic mean of two uniform cells.
    pub fn face_coefficients(
        &self,
        grid: &Grid,
        shapes: &[&Shape],
        per_fill: &[f64],
        sub: usize,
    ) -> std::collections::HashMap<(usize, usize), f64> {
        let index = ShapeIndex::new(grid, shapes);
        self.face_coefficients_with(grid, per_fill, sub, &|p| index.fill_at(p))
    }

    fn face_coefficients_with(
        &self,
        grid: &Grid,
        per_fill: &[f64],
        sub: usize,
        at: &(dyn Fn([f64; 3]) -> u16 + Sync),
    ) -> std::collections::HashMap<(usize, usize), f64> {
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
        par_map_reporting("sampling the interfaces", faces.len(), |f| {
            let (idx, a) = faces[f];
            let ha = grid.center_distance(a, grid.ijk(idx)[a]);
            let mut pieces: Vec<(u16, f64)> = Vec::with_capacity(4);
            // (on a periodic wrap the segment continues past the domain's face, as the
            // shapes are not periodic)
            interface::segment_lengths(at, grid.center(idx), a, (0.0, ha), sub, INTERFACE_BISECTION_TOL * ha, &mut pieces);
            let inv: f64 = pieces.iter().filter(|e| e.1 > 0.0).map(|&(fill, l)| l / per_fill[fill as usize]).sum();
            ((idx, a), ha / inv)
        })
        .into_iter()
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

/// Volume fractions of the cut cell centred at `c` from its interface reconstructed as a
/// plane ([`interface::fit_plane`], `sub` lines per tangential axis): the mean of the fits
/// along the `tied` leading `axes` (sorted, so that mirror-image cells get the same
/// fractions), else the first other axis whose fit succeeds; None when none fits.
fn planar_fractions(grid: &Grid, c: [f64; 3], h: [f64; 3], axes: &[usize], tied: usize, sub: usize, at: &dyn Fn([f64; 3]) -> u16) -> Option<Vec<(u16, f64)>> {
    let dim = grid.dim;
    let mut fits: Vec<Plane> = axes[..tied].iter().filter_map(|&b| interface::fit_plane(at, dim, h, c, b, sub)).collect();
    if fits.is_empty() {
        fits.extend(axes[tied..].iter().find_map(|&b| interface::fit_plane(at, dim, h, c, b, sub)));
    }
    let first = *fits.first()?;
    // each fit's fraction of `first.inside` (a fit along an axis of the other sense has the
    // two fills the other way round)
    let mut f = Vec::with_capacity(fits.len());
    for p in &fits {
        let v = p.volume_fraction(dim, h);
        match (p.inside, p.outside) {
            pair if pair == (first.inside, first.outside) => f.push(v),
            pair if pair == (first.outside, first.inside) => f.push(1.0 - v),
            _ => return None,
        }
    }
    f.sort_by(f64::total_cmp);
    let f = f.iter().sum::<f64>() / f.len() as f64;
    Some(vec![(first.inside, f), (first.outside, 1.0 - f)])
}

/// The mean of several estimates of a cell's fractions, fill by fill, each fill's values
/// summed in ascending order (so that the result does not depend on the estimates' order).
fn mean_fractions(est: Vec<Vec<(u16, f64)>>) -> Vec<(u16, f64)> {
    let mut fills: Vec<u16> = est.iter().flatten().map(|e| e.0).collect();
    fills.sort_unstable();
    fills.dedup();
    fills
        .into_iter()
        .map(|f| {
            let mut v: Vec<f64> = est.iter().map(|e| e.iter().find(|x| x.0 == f).map_or(0.0, |x| x.1)).collect();
            v.sort_by(f64::total_cmp);
            (f, v.iter().sum::<f64>() / est.len() as f64)
        })
        .collect()
}

/// Volume fractions of the cell centred at `c` from `sub`^(dim−1) lines along `axis`,
/// each integrated exactly between crossings found by bisection (2·`sub` samples a line).
fn cell_by_lines(grid: &Grid, c: [f64; 3], h: [f64; 3], axis: usize, sub: usize, at: &dyn Fn([f64; 3]) -> u16) -> Vec<(u16, f64)> {
    let dim = grid.dim;
    let others: Vec<usize> = (0..dim).filter(|&b| b != axis).collect();
    let sub = sub.max(1);
    let lines = sub.pow(others.len() as u32);
    let ha = h[axis];
    let mut len: Vec<(u16, f64)> = Vec::new();
    for t in 0..lines {
        let mut p = c;
        let mut rem = t;
        for &b in &others {
            p[b] += ((rem % sub) as f64 + 0.5) / sub as f64 * h[b] - 0.5 * h[b];
            rem /= sub;
        }
        interface::segment_lengths(at, p, axis, (-0.5 * ha, 0.5 * ha), 2 * sub, INTERFACE_BISECTION_TOL * ha, &mut len);
    }
    let total: f64 = len.iter().map(|e| e.1).sum();
    len.into_iter().map(|(f, l)| (f, l / total)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::shape_index as shapes;
    use crate::scene::shapes::{bounding_box, contains};
    use crate::scene::Axis;

    /// A small deterministic generator (xorshift64*), uniform in [lo, hi).
    struct Rng(u64);
    impl Rng {
        fn u(&mut self, lo: f64, hi: f64) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * x
        }
        fn pick(&mut self, n: usize) -> usize {
            (self.u(0.0, n as f64) as usize).min(n - 1)
        }
    }

    /// A point of 1 to 3 entries inside the domain's box widened by a fifth, off-plane
    /// entries near 0 (so that shapes of 3D space cut, or miss, a 1D/2D domain).
    fn point(r: &mut Rng, g: &Grid) -> Vec<f64> {
        let u = g.upper();
        let n = if r.u(0.0, 1.0) < 0.5 { g.dim } else { 3 };
        (0..n)
            .map(|a| if a < g.dim { r.u(g.origin[a] * 1.2, u[a] * 1.2) } else { r.u(-2.0, 2.0) })
            .collect()
    }

    /// `count` shapes cycling through every type, random sizes from 1/100 to 1 times
    /// `largest` times the domain's length along x.
    fn random_shapes(r: &mut Rng, g: &Grid, count: usize, largest: f64) -> Vec<Shape> {
        let axes = [Axis::X, Axis::Y, Axis::Z];
        let span = g.upper()[0] - g.origin[0];
        (0..count)
            .map(|i| {
                let len = |r: &mut Rng| span * largest * 10f64.powf(r.u(-2.0, 0.0));
                let axis = axes[r.pick(3)];
                match i % 8 {
                    0 => {
                        let a = r.u(g.origin[0], g.upper()[0]);
                        let l = len(r);
                        Shape::Layer { axis: axes[r.pick(g.dim)], from: a, to: a + l }
                    }
                    1 => {
                        let min = point(r, g);
                        let max = min.iter().map(|x| x + len(r)).collect();
                        Shape::Box { min, max }
                    }
                    2 => Shape::Sphere { center: point(r, g), radius: len(r) },
                    3 => Shape::Cylinder { center: point(r, g), radius: len(r), height: len(r), axis },
                    4 => Shape::Cone { base: point(r, g), base_radius: len(r), top_radius: len(r) * r.u(0.0, 1.0), height: len(r), axis },
                    5 => Shape::Pyramid { base: point(r, g), base_width: len(r), top_width: len(r) * r.u(0.0, 1.0), height: len(r), axis },
                    6 => {
                        let radius = len(r);
                        Shape::Lens { base: point(r, g), radius, height: radius * r.u(0.05, 1.0), axis }
                    }
                    _ => {
                        let center = point(r, g);
                        let semi_axes = (0..center.len()).map(|_| len(r)).collect();
                        Shape::Ellipsoid { center, semi_axes }
                    }
                }
            })
            .collect()
    }

    /// The painting as it was before bounding boxes: every point tests every shape.
    fn brute_force_paint(grid: &Grid, shapes: &[&Shape], sub: usize) -> MaterialMap {
        let at = |p: [f64; 3]| shapes::brute_force(shapes, p);
        MaterialMap::paint_with(grid, sub, shapes.is_empty(), &|_| None, &|_, p| at(p), &at)
    }

    /// Painting with bounding boxes gives exactly the brute-force map (every region tested
    /// at every point, later regions winning), cut-cell fractions and interface
    /// coefficients included, for many overlapping shapes of every type in 1D, 2D and 3D,
    /// on periodic axes and with bins of one cell and of several.
    #[test]
    fn bounding_boxes_paint_exactly_like_testing_every_region() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut g2 = Grid::uniform(&[31, 23], &[0.9, 1.3]);
        g2.periodic[0] = true;
        let mut g3 = Grid::uniform(&[13, 11, 9], &[1.0, 0.8, 1.2]);
        g3.periodic[2] = true;
        let cases = [
            (Grid::uniform(&[301], &[0.2]), 80, 0.05),
            (g2, 400, 0.4),
            (g3, 320, 0.4),
            (Grid::uniform(&[40, 40, 40], &[0.5, 0.5, 0.5]), 16, 0.4),
        ];
        let mut bin_sizes = std::collections::BTreeSet::new();
        for (grid, count, largest) in cases {
            let owned = random_shapes(&mut r, &grid, count, largest);
            let shapes: Vec<&Shape> = owned.iter().collect();
            let index = shapes::ShapeIndex::new(&grid, &shapes);
            let f = index.cells_per_bin().expect("this many shapes are binned");
            bin_sizes.insert(f);
            let sub = if grid.dim == 3 { 3 } else { 4 };
            let want = brute_force_paint(&grid, &shapes, sub);
            let got = MaterialMap::paint(&grid, &shapes, sub);
            assert_eq!(got.dominant, want.dominant, "{}D dominant fills", grid.dim);
            assert_eq!(got.mixed.len(), want.mixed.len(), "{}D cut cells", grid.dim);
            for (g, w) in got.mixed.iter().zip(&want.mixed) {
                assert_eq!(g.0, w.0);
                let bits = |v: &Vec<(u16, f64)>| v.iter().map(|&(f, x)| (f, x.to_bits())).collect::<Vec<_>>();
                assert_eq!(bits(&g.1), bits(&w.1), "fractions of cell {}", g.0);
            }
            let distinct = want.dominant.iter().collect::<std::collections::BTreeSet<_>>().len();
            assert!(
                distinct >= 8 && want.mixed.len() >= 10,
                "{}D: the shapes should overlap and cut many cells: {distinct} fills, {} cut cells",
                grid.dim,
                want.mixed.len()
            );
            let per_fill: Vec<f64> = (0..=count).map(|i| 1.0 + (i % 7) as f64).collect();
            let faces = got.face_coefficients(&grid, &shapes, &per_fill, 4);
            assert!(!faces.is_empty());
            let want_faces = want.face_coefficients_with(&grid, &per_fill, 4, &|p| shapes::brute_force(&shapes, p));
            assert_eq!(faces.len(), want_faces.len());
            for (&(idx, a), &v) in &faces {
                assert_eq!(v.to_bits(), want_faces[&(idx, a)].to_bits(), "face ({idx}, {a})");
            }
        }
        assert!(bin_sizes.contains(&1) && bin_sizes.len() > 1, "bins of one cell and of several were used: {bin_sizes:?}");
    }

    /// Every point a shape contains lies in its bounding box (the index relies on it).
    #[test]
    fn bounding_boxes_hold_their_shapes() {
        let mut r = Rng(12345);
        let g = Grid::uniform(&[20, 20, 20], &[1.0, 1.0, 1.0]);
        for s in random_shapes(&mut r, &g, 400, 0.5) {
            let (lo, hi) = bounding_box(&s);
            let mut inside = 0;
            for _ in 0..2000 {
                let p = [r.u(-15.0, 15.0), r.u(-15.0, 15.0), r.u(-15.0, 15.0)];
                if contains(&s, p) {
                    inside += 1;
                    assert!((0..3).all(|a| p[a] >= lo[a] && p[a] <= hi[a]), "{p:?} in {s:?} but outside {lo:?}..{hi:?}");
                }
            }
            let _ = inside;
        }
        // a lens taller than a hemisphere bulges beyond its base radius
        let lens = Shape::Lens { base: vec![0.0, 0.0, 0.0], radius: 2.0, height: 3.0, axis: Axis::Z };
        assert!(contains(&lens, [2.15, 0.0, 0.85]));
        assert!(bounding_box(&lens).1[0] >= 2.15);
    }
}
