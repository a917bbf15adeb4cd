//! Painting the scene's shapes onto a [`Grid`]: the [`MaterialMap`] (which fill occupies
//! each cell, with volume fractions in cut cells, and the face coefficients of cut faces),
//! the sample counts it uses, and the progress report of these setup phases.

use super::shape_index::{brute_force, ShapeIndex};
use super::Grid;
use crate::scene::Shape;

/// Sample lines per tangential axis and points per line for faces cut by an interface.
pub const FACE_SAMPLES: usize = 8;
/// Sub-samples per axis used to get volume fractions in cells cut by an interface.
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
    /// later regions winning. Cells whose centre and corners do not all agree are sampled
    /// with `sub`^dim points to get volume fractions, so interfaces that cut cells are
    /// smoothed rather than staircased.
    ///
    /// Each cell tests only the regions whose bounding boxes reach it
    /// ([`ShapeIndex`]), so the cost is about cells × (regions per cell), and the
    /// result is exactly that of testing every region at every point.
    pub fn paint(grid: &Grid, shapes: &[&Shape], sub: usize) -> MaterialMap {
        let index = ShapeIndex::new(grid, shapes);
        let n = grid.len();
        let dim = grid.dim;
        let results: Vec<(u16, Option<Vec<(u16, f64)>>)> = par_map_reporting("painting the regions", n, |idx| {
            let cand = index.cell_candidates(grid, idx);
            if shapes.is_empty() || cand.is_some_and(|c| c.is_empty()) {
                return (0, None);
            }
            let which = |p: [f64; 3]| index.fill_among(cand, p);
            let c = grid.center(idx);
            let f0 = which(c);
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
        shapes: &[&Shape],
        per_fill: &[f64],
        sub: usize,
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
        let tangential: Vec<usize> = (0..dim).collect();
        let index = ShapeIndex::new(grid, shapes);
        par_map_reporting("sampling the interfaces", faces.len(), |f| {
            let (idx, a) = faces[f];
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
                    inv += 1.0 / per_fill[index.fill_at(p) as usize];
                }
                sum += sub as f64 / inv;
            }
            ((idx, a), sum / lines as f64)
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
        let which = |p: [f64; 3]| shapes::brute_force(shapes, p);
        let dim = grid.dim;
        let mut dominant = Vec::new();
        let mut mixed = Vec::new();
        for idx in 0..grid.len() {
            let c = grid.center(idx);
            let f0 = which(c);
            let uniform = (0..1usize << dim).all(|m| {
                let mut p = c;
                for a in 0..dim {
                    p[a] += if (m >> a) & 1 == 1 { 0.5 } else { -0.5 } * grid.h[a] * 0.999_999;
                }
                which(p) == f0
            });
            if uniform {
                dominant.push(f0);
                continue;
            }
            let per = [sub, if dim >= 2 { sub } else { 1 }, if dim >= 3 { sub } else { 1 }];
            let total = per[0] * per[1] * per[2];
            let mut counts: Vec<(u16, usize)> = Vec::new();
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
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            dominant.push(counts[0].0);
            if counts.len() > 1 {
                mixed.push((idx, counts.iter().map(|&(f, c)| (f, c as f64 / total as f64)).collect()));
            }
        }
        MaterialMap { dominant, mixed }
    }

    fn brute_force_face(grid: &Grid, shapes: &[&Shape], per_fill: &[f64], sub: usize, idx: usize, a: usize) -> f64 {
        let c = grid.center(idx);
        let others: Vec<usize> = (0..grid.dim).filter(|&b| b != a).collect();
        let lines = sub.pow(others.len() as u32);
        let mut sum = 0.0;
        for t in 0..lines {
            let mut p0 = c;
            let mut rem = t;
            for &b in &others {
                p0[b] += ((rem % sub) as f64 + 0.5) / sub as f64 * grid.h[b] - 0.5 * grid.h[b];
                rem /= sub;
            }
            let mut inv = 0.0;
            for k in 0..sub {
                let mut p = p0;
                p[a] += (k as f64 + 0.5) / sub as f64 * grid.h[a];
                inv += 1.0 / per_fill[shapes::brute_force(shapes, p) as usize];
            }
            sum += sub as f64 / inv;
        }
        sum / lines as f64
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
            for (&(idx, a), &v) in &faces {
                assert_eq!(v.to_bits(), brute_force_face(&grid, &shapes, &per_fill, 4, idx, a).to_bits(), "face ({idx}, {a})");
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
