//! Validation of shapes: the points they are given by, every number of every shape type,
//! and that a shape reaches the domain.

use super::*;
use crate::scene::shapes::bounding_box;

/// A point in nm: 1..=dim entries or exactly 3, every entry finite.
pub(super) fn point(path: &str, v: &[f64], dim: usize) -> Result<()> {
    let n = v.len();
    if n == 0 || n > 3 {
        return Err(err(path, format!("has {n} entries: a point has 1 to 3 coordinates (x, y, z) in nm")));
    }
    if n > dim && n != 3 {
        return Err(err(
            path,
            format!(
                "has {n} entries but the domain is {dim}D: give at most {dim} (missing ones are 0), \
                 or 3 for a point of 3D space"
            ),
        ));
    }
    for (a, x) in v.iter().enumerate() {
        finite(&format!("{path}[{a}]"), *x, "coordinate in nm")?;
    }
    Ok(())
}

/// Check one shape (`path` is the JSON path of the shape object).
pub(super) fn shape(path: &str, s: &Shape, dim: usize) -> Result<()> {
    let f = |field: &str| format!("{path}.{field}");
    match s {
        Shape::Layer { axis: _, from, to } => {
            finite(&f("from"), *from, "coordinate in nm")?;
            finite(&f("to"), *to, "coordinate in nm")?;
            if from >= to {
                return Err(err(f("to"), format!("must be greater than from: the layer spans from {} nm to {} nm", num(*from), num(*to))));
            }
        }
        Shape::Box { min, max } => {
            point(&f("min"), min, dim)?;
            point(&f("max"), max, dim)?;
            if min.len() != max.len() {
                return Err(err(
                    f("max"),
                    format!("has {} entries but min has {}: give both corners with the same axes", max.len(), min.len()),
                ));
            }
            for a in 0..min.len() {
                if min[a] >= max[a] {
                    return Err(err(
                        format!("{path}.max[{a}]"),
                        format!("must be greater than min[{a}] along {}: got min {} nm, max {} nm", AXES[a], num(min[a]), num(max[a])),
                    ));
                }
            }
        }
        Shape::Sphere { center, radius } => {
            point(&f("center"), center, dim)?;
            positive(&f("radius"), *radius, "radius in nm")?;
        }
        Shape::Cylinder { center, radius, height, axis: _ } => {
            point(&f("center"), center, dim)?;
            positive(&f("radius"), *radius, "radius in nm")?;
            positive(&f("height"), *height, "height in nm")?;
        }
        Shape::Cone { base, base_radius, top_radius, height, axis: _ } => {
            point(&f("base"), base, dim)?;
            positive(&f("base_radius"), *base_radius, "radius in nm")?;
            non_negative(&f("top_radius"), *top_radius, "radius in nm")?;
            if top_radius > base_radius {
                return Err(err(
                    f("top_radius"),
                    format!(
                        "must not exceed base_radius: a cone narrows along +axis (got top {} nm, base {} nm)",
                        num(*top_radius),
                        num(*base_radius)
                    ),
                ));
            }
            positive(&f("height"), *height, "height in nm")?;
        }
        Shape::Pyramid { base, base_width, top_width, height, axis: _ } => {
            point(&f("base"), base, dim)?;
            positive(&f("base_width"), *base_width, "width in nm")?;
            non_negative(&f("top_width"), *top_width, "width in nm")?;
            if top_width > base_width {
                return Err(err(
                    f("top_width"),
                    format!(
                        "must not exceed base_width: a pyramid narrows along +axis (got top {} nm, base {} nm)",
                        num(*top_width),
                        num(*base_width)
                    ),
                ));
            }
            positive(&f("height"), *height, "height in nm")?;
        }
        Shape::Lens { base, radius, height, axis: _ } => {
            point(&f("base"), base, dim)?;
            positive(&f("radius"), *radius, "base radius in nm")?;
            positive(&f("height"), *height, "height in nm")?;
            if height > radius {
                return Err(err(
                    f("height"),
                    format!(
                        "must not exceed radius: a lens is a spherical cap no taller than a hemisphere \
                         (got height {} nm, radius {} nm)",
                        num(*height),
                        num(*radius)
                    ),
                ));
            }
        }
        Shape::Ellipsoid { center, semi_axes } => {
            point(&f("center"), center, dim)?;
            let n = semi_axes.len();
            if n != dim && n != 3 {
                return Err(err(
                    f("semi_axes"),
                    format!("has {n} entries but the domain is {dim}D: give {dim} semi-axes, or 3 for an ellipsoid of 3D space"),
                ));
            }
            for (a, s) in semi_axes.iter().enumerate() {
                positive(&format!("{path}.semi_axes[{a}]"), *s, "semi-axis in nm")?;
            }
        }
    }
    Ok(())
}

/// A shape whose bounding box misses the domain has no effect: report it.
pub(super) fn touches_domain(path: &str, s: &Shape, size: &[f64]) -> Result<()> {
    let (lo, hi) = bounding_box(s);
    for a in 0..3 {
        let (dlo, dhi, inside) = if a < size.len() {
            let h = size[a] / 2.0;
            (-h, h, lo[a] < h && hi[a] > -h)
        } else {
            (0.0, 0.0, lo[a] <= 0.0 && hi[a] >= 0.0)
        };
        if !inside {
            let domain = if a < size.len() {
                format!("the domain spans [{}, {}] nm along {}", num(dlo), num(dhi), AXES[a])
            } else {
                format!("the {}D domain lies at {} = 0", size.len(), AXES[a])
            };
            return Err(err(
                path,
                format!("lies entirely outside the domain: it spans [{}, {}] nm along {} but {domain}", num(lo[a]), num(hi[a]), AXES[a]),
            ));
        }
    }
    Ok(())
}
