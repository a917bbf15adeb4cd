//! [`ShapeIndex`]: the scene's shapes binned by bounding box on bins aligned with a grid's
//! cells, so that painting asks each point only about the shapes that can reach it; and
//! [`brute_force`], the same question put to every shape.

use crate::scene::shapes::{bounding_box, contains};
use crate::scene::Shape;

/// The shapes binned by bounding box on bins aligned with a grid's cells, so that the
/// question "which is the last shape containing p" looks only at the shapes whose boxes
/// reach p's bin instead of at all of them. The answer is exactly that of testing every
/// shape in order (later shapes win): a shape that contains p has p in its bounding box,
/// so it is among p's bin's candidates, which are kept in the shapes' order.
///
/// Bins are `f` cells wide per axis (f a power of two, 1 when memory allows) and cover the
/// domain plus one bin on each side (face samples of periodic axes reach half a cell
/// outside the domain); points outside them, or off the line/plane of a 1D/2D domain, are
/// tested against every shape.
pub struct ShapeIndex<'a> {
    shapes: &'a [&'a Shape],
    /// None: too few shapes for binning to pay; every point tests every shape.
    bins: Option<Bins>,
    /// Built on a graded grid: the bins are uniform in space (the mean width) and not
    /// aligned with the cells, so a cell's candidates are every shape.
    graded: bool,
}

struct Bins {
    dim: usize,
    /// Cells per bin along each axis.
    f: usize,
    /// Lower corner of bin 0, nm.
    lo: [f64; 3],
    /// Bin size per axis, nm.
    size: [f64; 3],
    /// Bins per axis (1 on absent axes).
    nb: [usize; 3],
    /// Candidates of bin b: list[start[b]..start[b + 1]], ascending shape indices.
    start: Vec<u32>,
    list: Vec<u32>,
}

/// Below this many shapes every point simply tests every shape.
const INDEX_MIN_SHAPES: usize = 8;

impl Bins {
    /// Per-axis range of bins [b0, b1] a box reaches, or None when it misses them all.
    fn range(&self, lo: [f64; 3], hi: [f64; 3]) -> Option<[(usize, usize); 3]> {
        let mut r = [(0usize, 0usize); 3];
        for a in 0..3 {
            if a >= self.dim {
                // absent axes: the domain is the line/plane at 0 (NaN: keep, to be safe)
                if lo[a] > 0.0 || hi[a] < 0.0 {
                    return None;
                }
                continue;
            }
            // a margin of 1e-6 bin: a point on the box's edge may round into the next bin
            let nb = self.nb[a] as f64;
            let t0 = (lo[a] - self.lo[a]) / self.size[a] - 1e-6;
            let t1 = (hi[a] - self.lo[a]) / self.size[a] + 1e-6;
            if t1 < 0.0 || t0 >= nb || t0 > t1 {
                return None;
            }
            let b0 = if t0 >= 0.0 { t0.floor() as usize } else { 0 }; // also NaN -> 0
            let b1 = if t1 < nb { t1.floor() as usize } else { self.nb[a] - 1 }; // NaN -> last
            r[a] = (b0.min(self.nb[a] - 1), b1);
        }
        Some(r)
    }

    /// The bin holding point p, or None outside the bins.
    #[inline]
    fn bin_of(&self, p: [f64; 3]) -> Option<usize> {
        let mut b = [0usize; 3];
        for a in 0..3 {
            if a >= self.dim {
                if p[a] != 0.0 {
                    return None;
                }
                continue;
            }
            let t = (p[a] - self.lo[a]) / self.size[a];
            if !(t >= 0.0 && t < self.nb[a] as f64) {
                return None;
            }
            b[a] = (t as usize).min(self.nb[a] - 1);
        }
        Some(b[0] + self.nb[0] * (b[1] + self.nb[1] * b[2]))
    }

    #[inline]
    fn candidates(&self, bin: usize) -> &[u32] {
        &self.list[self.start[bin] as usize..self.start[bin + 1] as usize]
    }
}

impl<'a> ShapeIndex<'a> {
    /// Bin `shapes` on bins aligned with `grid`'s cells.
    pub fn new(grid: &super::Grid, shapes: &'a [&'a Shape]) -> ShapeIndex<'a> {
        if shapes.len() < INDEX_MIN_SHAPES || shapes.len() >= u32::MAX as usize {
            return ShapeIndex { shapes, bins: None, graded: grid.is_graded() };
        }
        let boxes: Vec<([f64; 3], [f64; 3])> = shapes.iter().map(|s| bounding_box(s)).collect();
        let cells = grid.len();
        // memory: a few bins per shape at most, and a few candidates per cell (or per
        // shape) in all; coarser bins until both hold
        let bin_budget = 64 * shapes.len() + 4096;
        let budget = 4 * cells + 32 * shapes.len() + 4096;
        let max_n = grid.n[..grid.dim].iter().copied().max().unwrap_or(1);
        let mut f = 1usize;
        loop {
            let bins = Self::bins(grid, f);
            let total = if bins.start.len() - 1 > bin_budget {
                None
            } else {
                boxes.iter().try_fold(0usize, |acc, &(lo, hi)| {
                    let n = bins.range(lo, hi).map_or(0, |r| r.iter().map(|&(b0, b1)| b1 + 1 - b0).product::<usize>());
                    let acc = acc + n;
                    (acc <= budget).then_some(acc)
                })
            };
            if let Some(total) = total {
                if total < u32::MAX as usize {
                    return ShapeIndex { shapes, bins: Some(Self::fill(bins, &boxes, total)), graded: grid.is_graded() };
                }
            }
            if f >= max_n {
                return ShapeIndex { shapes, bins: None, graded: grid.is_graded() };
            }
            f *= 2;
        }
    }

    /// Empty bins of `f` cells per axis over `grid` plus one bin each side.
    fn bins(grid: &super::Grid, f: usize) -> Bins {
        let mut b = Bins { dim: grid.dim, f, lo: [0.0; 3], size: [1.0; 3], nb: [1; 3], start: Vec::new(), list: Vec::new() };
        for a in 0..grid.dim {
            // (graded: bins of the mean width, in space only)
            let h = if grid.is_graded() { (grid.edge(a, grid.n[a]) - grid.edge(a, 0)) / grid.n[a] as f64 } else { grid.h[a] };
            b.size[a] = h * f as f64;
            b.lo[a] = grid.origin[a] - b.size[a];
            b.nb[a] = grid.n[a].div_ceil(f) + 2;
        }
        b.start = vec![0; b.nb.iter().product::<usize>() + 1];
        b
    }

    /// Fill the bins' candidate lists (counting pass, then placing pass in shape order).
    fn fill(mut b: Bins, boxes: &[([f64; 3], [f64; 3])], total: usize) -> Bins {
        let ranges: Vec<Option<[(usize, usize); 3]>> = boxes.iter().map(|&(lo, hi)| b.range(lo, hi)).collect();
        let (nx, ny) = (b.nb[0], b.nb[1]);
        let each = |r: &[(usize, usize); 3], g: &mut dyn FnMut(usize)| {
            for k in r[2].0..=r[2].1 {
                for j in r[1].0..=r[1].1 {
                    for i in r[0].0..=r[0].1 {
                        g(i + nx * (j + ny * k));
                    }
                }
            }
        };
        let mut count = vec![0u32; b.start.len()];
        for r in ranges.iter().flatten() {
            each(r, &mut |bin| count[bin + 1] += 1);
        }
        for i in 1..count.len() {
            count[i] += count[i - 1];
        }
        b.start = count.clone();
        b.list = vec![0; total];
        for (s, r) in ranges.iter().enumerate() {
            if let Some(r) = r {
                each(r, &mut |bin| {
                    b.list[count[bin] as usize] = s as u32;
                    count[bin] += 1;
                });
            }
        }
        b
    }

    /// Cells per bin along each axis, or None when every point tests every shape.
    pub fn cells_per_bin(&self) -> Option<usize> {
        self.bins.as_ref().map(|b| b.f)
    }

    /// The last shape containing p, as 1 + its index (0: none).
    #[inline]
    pub fn fill_at(&self, p: [f64; 3]) -> u16 {
        match self.bins.as_ref().and_then(|b| b.bin_of(p).map(|bin| (b, bin))) {
            Some((b, bin)) => last_containing(self.shapes, b.candidates(bin), p),
            None => brute_force(self.shapes, p),
        }
    }

    /// The shapes that can contain any point of cell `idx` of the grid the index was built
    /// on (closed cell), or None when every shape must be tested.
    #[inline]
    pub fn cell_candidates(&self, grid: &super::Grid, idx: usize) -> Option<&[u32]> {
        if self.graded {
            return None;
        }
        let b = self.bins.as_ref()?;
        let ijk = grid.ijk(idx);
        let mut bi = [0usize; 3];
        for a in 0..b.dim {
            bi[a] = ijk[a] / b.f + 1;
        }
        Some(b.candidates(bi[0] + b.nb[0] * (bi[1] + b.nb[1] * bi[2])))
    }

    /// The last of `candidates` (or of all shapes, for None) containing p, as 1 + index.
    #[inline]
    pub fn fill_among(&self, candidates: Option<&[u32]>, p: [f64; 3]) -> u16 {
        match candidates {
            Some(c) => last_containing(self.shapes, c, p),
            None => brute_force(self.shapes, p),
        }
    }
}

#[inline]
fn last_containing(shapes: &[&Shape], candidates: &[u32], p: [f64; 3]) -> u16 {
    for &s in candidates.iter().rev() {
        if contains(shapes[s as usize], p) {
            return (s + 1) as u16;
        }
    }
    0
}

/// The last shape containing p (1 + index; 0: none), testing every shape.
pub fn brute_force(shapes: &[&Shape], p: [f64; 3]) -> u16 {
    for (r, s) in shapes.iter().enumerate().rev() {
        if contains(s, p) {
            return (r + 1) as u16;
        }
    }
    0
}
