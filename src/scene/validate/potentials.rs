//! Validation of the analytic and tabulated potentials (`potentials[i]`).

use super::geometry::point;
use super::*;

pub(super) fn potential(i: usize, pot: &Potential, dim: usize, size: &[f64]) -> Result<()> {
    let f = |field: &str| format!("potentials[{i}].{field}");
    match pot {
        Potential::Harmonic { center, hbar_omega, spring_constant, mass, axes } => {
            if let Some(c) = center {
                point(&f("center"), c, dim)?;
            }
            match (hbar_omega, spring_constant) {
                (Some(w), None) => positive(&f("hbar_omega"), *w, "level spacing ħω in eV")?,
                (None, Some(k)) => {
                    positive(&f("spring_constant"), *k, "spring constant in eV/nm²")?;
                    if mass.is_some() {
                        return Err(err(
                            f("mass"),
                            "is only used to turn hbar_omega into a spring constant: with spring_constant it has no effect, remove it",
                        ));
                    }
                }
                (Some(_), Some(_)) => {
                    return Err(err(
                        f("spring_constant"),
                        "give exactly one of \"hbar_omega\" (eV) and \"spring_constant\" (eV/nm²), not both",
                    ))
                }
                (None, None) => {
                    return Err(err(
                        format!("potentials[{i}]"),
                        "a harmonic potential needs exactly one of \"hbar_omega\" (eV) and \"spring_constant\" (eV/nm²)",
                    ))
                }
            }
            if let Some(m) = mass {
                positive(&f("mass"), *m, "effective mass in units of m0")?;
            }
            if let Some(ax) = axes {
                if ax.is_empty() {
                    return Err(err(f("axes"), "is empty: list the axes the oscillator acts along, or leave the field out for all"));
                }
                for (j, a) in ax.iter().enumerate() {
                    let p = format!("potentials[{i}].axes[{j}]");
                    if a.index() >= dim {
                        return Err(err(p, format!("axis {} does not exist in a {dim}D domain", axis_name(*a))));
                    }
                    if ax[..j].contains(a) {
                        return Err(err(p, format!("axis {} is listed twice", axis_name(*a))));
                    }
                }
            }
        }
        Potential::Gaussian { center, depth, sigma } => {
            if let Some(c) = center {
                point(&f("center"), c, dim)?;
            }
            finite(&f("depth"), *depth, "depth in eV")?;
            match sigma {
                Spacing::Uniform(s) => positive(&f("sigma"), *s, "width σ in nm")?,
                Spacing::PerAxis(v) => {
                    if v.len() != dim {
                        return Err(err(
                            f("sigma"),
                            format!("has {} entries but the domain has {dim} axes: give one number or one per axis", v.len()),
                        ));
                    }
                    for (a, s) in v.iter().enumerate() {
                        positive(&format!("potentials[{i}].sigma[{a}]"), *s, "width σ in nm")?;
                    }
                }
            }
        }
        Potential::SquareWell { depth, shape: s } => {
            finite(&f("depth"), *depth, "depth in eV")?;
            let p = f("shape");
            shape(&p, s, dim)?;
            touches_domain(&p, s, size)?;
        }
        Potential::File { path, scale } => {
            if path.as_os_str().is_empty() {
                return Err(err(f("path"), "is an empty path: give a .npy file relative to the scene file"));
            }
            finite(&f("scale"), *scale, "scale factor")?;
        }
    }
    Ok(())
}

pub(super) fn axis_name(a: Axis) -> &'static str {
    AXES[a.index()]
}
