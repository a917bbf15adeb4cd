//! Point-in-shape tests for the scene's geometric shapes (coordinates in nm).
//!
//! Points are 3D; a 1D or 2D domain is the line y = z = 0 or the plane z = 0, so a sphere
//! seen from a 2D domain is a disk.

use crate::scene::{Axis, Shape};

/// A point given in the scene (1 to 3 entries), padded with zeros to 3D.
pub fn pad(v: &[f64]) -> [f64; 3] {
    let mut p = [0.0; 3];
    for (a, x) in v.iter().take(3).enumerate() {
        p[a] = *x;
    }
    p
}

/// (axial coordinate relative to `base`, radial distance from the axis, the two
/// transverse offsets) of point p for a shape standing on `base` along `axis`.
fn axial(p: [f64; 3], base: [f64; 3], axis: Axis) -> (f64, f64, f64, f64) {
    let a = axis.index();
    let (t1, t2) = ((a + 1) % 3, (a + 2) % 3);
    let z = p[a] - base[a];
    let u = p[t1] - base[t1];
    let v = p[t2] - base[t2];
    (z, (u * u + v * v).sqrt(), u, v)
}

pub fn contains(s: &Shape, p: [f64; 3]) -> bool {
    match s {
        Shape::Layer { axis, from, to } => {
            let x = p[axis.index()];
            x >= *from && x <= *to
        }
        Shape::Box { min, max } => {
            // absent axes of a lower-dimensional box are unbounded
            (0..3).all(|a| {
                let lo = min.get(a).copied().unwrap_or(f64::NEG_INFINITY);
                let hi = max.get(a).copied().unwrap_or(f64::INFINITY);
                p[a] >= lo && p[a] <= hi
            })
        }
        Shape::Sphere { center, radius } => {
            let c = pad(center);
            let d2: f64 = (0..3).map(|a| (p[a] - c[a]).powi(2)).sum();
            d2 <= radius * radius
        }
        Shape::Cylinder { center, radius, height, axis } => {
            let c = pad(center);
            let (z, r, _, _) = axial(p, c, *axis);
            z.abs() <= height / 2.0 && r <= *radius
        }
        Shape::Cone { base, base_radius, top_radius, height, axis } => {
            let (z, r, _, _) = axial(p, pad(base), *axis);
            if z < 0.0 || z > *height {
                return false;
            }
            let rz = base_radius + (top_radius - base_radius) * z / height;
            r <= rz
        }
        Shape::Pyramid { base, base_width, top_width, height, axis } => {
            let (z, _, u, v) = axial(p, pad(base), *axis);
            if z < 0.0 || z > *height {
                return false;
            }
            let w = base_width + (top_width - base_width) * z / height;
            u.abs() <= w / 2.0 && v.abs() <= w / 2.0
        }
        Shape::Lens { base, radius, height, axis } => {
            // spherical cap: sphere of radius R = (r² + h²)/(2h) centred at z = h − R
            let (z, r, _, _) = axial(p, pad(base), *axis);
            if z < 0.0 || z > *height {
                return false;
            }
            let big_r = (radius * radius + height * height) / (2.0 * height);
            let zc = height - big_r;
            r * r + (z - zc) * (z - zc) <= big_r * big_r
        }
        Shape::Ellipsoid { center, semi_axes } => {
            let c = pad(center);
            let s = pad(semi_axes);
            let mut q = 0.0;
            for a in 0..3 {
                let d = p[a] - c[a];
                if s[a] > 0.0 {
                    q += (d / s[a]).powi(2);
                } else if d != 0.0 {
                    return false;
                }
            }
            q <= 1.0
        }
    }
}

/// Axis-aligned bounding box of a shape, (min, max), nm; infinite where unbounded. Every
/// point that [`contains`] accepts lies in it (closed on both sides); it may be larger than
/// the shape (a pyramid's box allows for any rotation about its axis).
pub fn bounding_box(s: &Shape) -> ([f64; 3], [f64; 3]) {
    let inf = f64::INFINITY;
    let mut lo = [-inf; 3];
    let mut hi = [inf; 3];
    let standing = |base: &[f64], axis: Axis, rad: f64, height: f64, lo: &mut [f64; 3], hi: &mut [f64; 3]| {
        let b = pad(base);
        for a in 0..3 {
            if a == axis.index() {
                lo[a] = b[a];
                hi[a] = b[a] + height;
            } else {
                lo[a] = b[a] - rad;
                hi[a] = b[a] + rad;
            }
        }
    };
    match s {
        Shape::Layer { axis, from, to } => {
            lo[axis.index()] = *from;
            hi[axis.index()] = *to;
        }
        Shape::Box { min, max } => {
            for a in 0..min.len().min(3) {
                lo[a] = min[a];
            }
            for a in 0..max.len().min(3) {
                hi[a] = max[a];
            }
        }
        Shape::Sphere { center, radius } => {
            let c = pad(center);
            for a in 0..3 {
                lo[a] = c[a] - radius.abs();
                hi[a] = c[a] + radius.abs();
            }
        }
        Shape::Cylinder { center, radius, height, axis } => {
            let c = pad(center);
            for a in 0..3 {
                let e = if a == axis.index() { height / 2.0 } else { *radius };
                lo[a] = c[a] - e;
                hi[a] = c[a] + e;
            }
        }
        Shape::Cone { base, base_radius, top_radius, height, axis } => {
            standing(base, *axis, base_radius.max(*top_radius), *height, &mut lo, &mut hi)
        }
        Shape::Pyramid { base, base_width, top_width, height, axis } => {
            standing(base, *axis, base_width.max(*top_width) / 2.0 * std::f64::consts::SQRT_2, *height, &mut lo, &mut hi)
        }
        Shape::Lens { base, radius, height, axis } => {
            // a cap taller than a hemisphere (which validation refuses) bulges beyond its
            // base radius to the sphere's radius
            let big_r = (radius * radius + height * height) / (2.0 * height);
            let rad = if height >= radius { big_r } else { *radius };
            standing(base, *axis, rad, *height, &mut lo, &mut hi)
        }
        Shape::Ellipsoid { center, semi_axes } => {
            let c = pad(center);
            let s = pad(semi_axes);
            for a in 0..3 {
                lo[a] = c[a] - s[a].abs();
                hi[a] = c[a] + s[a].abs();
            }
        }
    }
    (lo, hi)
}

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
            return ShapeIndex { shapes, bins: None };
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
                    return ShapeIndex { shapes, bins: Some(Self::fill(bins, &boxes, total)) };
                }
            }
            if f >= max_n {
                return ShapeIndex { shapes, bins: None };
            }
            f *= 2;
        }
    }

    /// Empty bins of `f` cells per axis over `grid` plus one bin each side.
    fn bins(grid: &super::Grid, f: usize) -> Bins {
        let mut b = Bins { dim: grid.dim, f, lo: [0.0; 3], size: [1.0; 3], nb: [1; 3], start: Vec::new(), list: Vec::new() };
        for a in 0..grid.dim {
            b.size[a] = grid.h[a] * f as f64;
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

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lens_and_pyramid() {
        let lens = Shape::Lens { base: vec![0.0, 0.0, 0.0], radius: 10.0, height: 3.0, axis: Axis::Z };
        assert!(contains(&lens, [0.0, 0.0, 2.9]));
        assert!(!contains(&lens, [0.0, 0.0, 3.1]));
        assert!(contains(&lens, [9.9, 0.0, 0.01]));
        assert!(!contains(&lens, [9.0, 0.0, 2.0]));
        let pyr = Shape::Pyramid { base: vec![0.0, 0.0, 0.0], base_width: 10.0, top_width: 0.0, height: 5.0, axis: Axis::Z };
        assert!(contains(&pyr, [4.9, 4.9, 0.0]));
        assert!(!contains(&pyr, [4.0, 0.0, 2.5]));
        assert!(contains(&pyr, [2.4, 2.4, 2.5]));
    }
}
