//! Validation of the `strain` block: the reference, the boundary condition of every face
//! (names, periodic on both faces of an axis, consistent with `domain.periodic`), the
//! growth axis and the solver settings. Material names (of a named reference) are left to
//! the simulation, like every material name.

use super::*;
use crate::scene::{StrainFaces, StrainOptions};

/// The condition names of `strain.boundary`.
pub const STRAIN_FACE_NAMES: [&str; 3] = ["free", "clamped", "periodic"];

/// The two face conditions ("free" | "clamped" | "periodic") of axis `a` as written, with
/// the default where the scene leaves it out: periodic on a periodic axis of the domain,
/// free otherwise. Err names the field.
pub fn strain_faces(st: &StrainOptions, a: usize, domain_periodic: bool) -> Result<[&'static str; 2]> {
    let path = format!("strain.boundary.{}", AXES[a]);
    let name = |p: &str, v: &str| -> Result<&'static str> {
        STRAIN_FACE_NAMES.iter().copied().find(|n| *n == v).ok_or_else(|| {
            err(p, format!("unknown boundary condition \"{v}\" (allowed: {})", STRAIN_FACE_NAMES.join(", ")))
        })
    };
    let faces = match st.boundary.axis(a) {
        None => if domain_periodic { ["periodic"; 2] } else { ["free"; 2] },
        Some(StrainFaces::Both(v)) => [name(&path, v)?; 2],
        Some(StrainFaces::Each(v)) => {
            if v.len() != 2 {
                return Err(err(&path, format!("has {} entries: give one condition for both faces or [lower, upper]", v.len())));
            }
            [name(&format!("{path}[0]"), &v[0])?, name(&format!("{path}[1]"), &v[1])?]
        }
    };
    if (faces[0] == "periodic") != (faces[1] == "periodic") {
        return Err(err(&path, "periodic applies to both faces of an axis (the lower face is the upper face's image)"));
    }
    if domain_periodic && faces[0] != "periodic" {
        return Err(err(&path, format!("the domain is periodic along {}: the displacement must be periodic there too (\"periodic\"), got \"{}\"", AXES[a], faces[0])));
    }
    Ok(faces)
}

pub(super) fn strain(scene: &Scene, dim: usize) -> Result<()> {
    let Some(st) = &scene.strain else { return Ok(()) };
    if !st.enabled {
        return Ok(());
    }
    if scene.solve.mode != SolveMode::Schrodinger {
        return Err(err(
            "strain.enabled",
            format!("strain is computed in mode schrodinger only in this version (got mode {}): leave the block out or set enabled to false", mode_name(scene.solve.mode)),
        ));
    }
    match st.reference.as_deref() {
        None | Some("background") | Some("substrate") => {
            if st.reference_x.is_some() {
                return Err(err("strain.reference_x", "only with a reference given by material name (the background and the substrate carry their own x)"));
            }
        }
        Some(r) if r.trim().is_empty() => {
            return Err(err("strain.reference", "is empty: give \"background\", \"substrate\" or a material name"));
        }
        Some(_) => alloy_x("strain.reference_x", st.reference_x)?,
    }
    let periodic = scene.domain.periodic.clone().unwrap_or_default();
    for a in 0..3 {
        if a >= dim {
            if st.boundary.axis(a).is_some() {
                return Err(err(
                    format!("strain.boundary.{}", AXES[a]),
                    format!("axis {} does not exist in a {dim}D domain (an absent axis is taken as pseudomorphic: the crystal does not deform along it)", AXES[a]),
                ));
            }
            continue;
        }
        strain_faces(st, a, periodic.get(a).copied().unwrap_or(false))?;
    }
    if let Some(g) = st.growth_axis {
        if g.index() >= dim {
            return Err(err("strain.growth_axis", format!("axis {} does not exist in a {dim}D domain", AXES[g.index()])));
        }
    }
    if !(st.tolerance.is_finite() && st.tolerance > 0.0 && st.tolerance <= MAX_TOLERANCE) {
        return Err(err("strain.tolerance", format!("must be a relative residual in (0, {}], got {}", num(MAX_TOLERANCE), num(st.tolerance))));
    }
    if st.max_iterations < 1 || st.max_iterations > 100_000 {
        return Err(err("strain.max_iterations", format!("must be between 1 and 100000, got {}", st.max_iterations)));
    }
    piezo_boundary(st)?;
    Ok(())
}

/// The condition names of `strain.piezo_boundary`.
pub const PIEZO_BOUNDARY_NAMES: [&str; 2] = ["dirichlet", "neumann"];

/// `strain.piezo_boundary` as written ("dirichlet" where left out); only with
/// `strain.piezoelectric: true`. Err names the field.
pub fn piezo_boundary(st: &StrainOptions) -> Result<&'static str> {
    let Some(v) = st.piezo_boundary.as_deref() else { return Ok(PIEZO_BOUNDARY_NAMES[0]) };
    if !st.piezoelectric {
        return Err(err("strain.piezo_boundary", "only with \"piezoelectric\": true"));
    }
    PIEZO_BOUNDARY_NAMES
        .iter()
        .copied()
        .find(|n| *n == v)
        .ok_or_else(|| err("strain.piezo_boundary", format!("unknown condition \"{v}\" (allowed: {})", PIEZO_BOUNDARY_NAMES.join(", "))))
}
