//! The geometry of the scene's shapes (coordinates in nm): which points a shape contains
//! ([`contains`]) and its axis-aligned bounding box ([`bounding_box`]). Pure geometry: no
//! grid; painting shapes onto cells is `grid`'s job.
//!
//! Points are 3D; a 1D or 2D domain is the line y = z = 0 or the plane z = 0, so a sphere
//! seen from a 2D domain is a disk.

use super::{Axis, Shape};

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

/// Whether shape `s` contains point `p` (closed: the boundary is inside).
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
