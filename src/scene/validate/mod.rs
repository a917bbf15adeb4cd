//! Structural validation of a parsed scene: every check names the JSON path of the field,
//! in the style of the parser's errors (`regions[1].shape.radius`, `domain.size[0]`), and
//! says the unit and the value received.
//!
//! What is checked here is everything that can be judged from the scene alone: the domain,
//! the temperature, every number of every shape and potential, that each region and square
//! well touches the domain, alloy fractions and the solver settings. Material *names* are
//! not checked: the simulation resolves them against the database, which the scene's
//! `materials_file` may extend.
//!
//! Decisions (documented in docs/scene-format.md):
//! - A point (`center`, `base`, `min`, `max`, `semi_axes`, a potential's `center`) has 1 to
//!   `dim` entries, missing trailing entries counting as 0, or exactly 3 entries (a point
//!   of 3D space; a 1D/2D domain is the line y = z = 0 / plane z = 0 through it).
//!   A box's `min` and `max` have the same length; axes they omit are unbounded.
//!   An ellipsoid's `semi_axes` has `dim` or 3 entries, all > 0.
//! - Cones and pyramids narrow upward: 0 ≤ top ≤ base. A lens is a spherical cap no taller
//!   than a hemisphere: 0 < height ≤ radius (height = radius is a hemisphere).
//! - A region or square well lying entirely outside the domain is an error (it would have
//!   no effect, which is almost always a sign or unit mistake). On the domain's axes the
//!   domain is the open box (−size/2, +size/2); on the absent axes of a 1D/2D domain it is
//!   the coordinate 0.
//! - The temperature must be in (0, 2000] K.
//! - Doping densities are in [0, 1e22] cm^-3 (1e22 is about a quarter of the atomic density
//!   of GaAs, beyond any doping); ionisation energies in [0, 2] eV.
//! - Contacts: a face of the domain's axes, not on a periodic axis; a patch has one entry
//!   per tangential axis and must overlap the face; two contacts on one face must not
//!   overlap; `barrier` is required for Schottky contacts and forbidden for Ohmic ones.
//! - Gates: a valid shape that reaches the domain; finite voltage and barrier.
//! - `solve.poisson` only with mode poisson or self_consistent; `quantum_region` only (and
//!   always) with self_consistent, inside the domain, at least 3 cell centres per axis.
//! - A sweep's parameter must exist in the scene and every value must give a valid scene.
//! - `strain` (mode schrodinger only): known face conditions, periodic on both faces of an
//!   axis and wherever the domain is periodic, no condition for an absent axis, growth axis
//!   of the domain, tolerance and iteration cap in range, `piezo_boundary` a known condition
//!   and only with `piezoelectric: true` (`strain`).
//!
//! Where the checks are: here the limits, the message helpers, the domain, the order of
//! the checks ([`validate`]); `geometry` the shapes, `potentials` the potentials, `device`
//! doping, contacts, gates and `solve.poisson`, `sweep` the sweep; `tests` their tests.

use super::{
    path::JsonPath, Axis, BoxRange, Contact, ContactKind, Doping, Gate, Potential, Scene, Shape, SolveMode, Spacing, SweepValues,
};
use crate::materials::Carrier;
use crate::error::{QdError, Result};

mod device;
mod geometry;
mod potentials;
mod strain;
mod sweep;
#[cfg(test)]
mod tests;

use device::{contacts, doping, gate, poisson};
use geometry::{shape, touches_domain};
use potentials::potential;
pub use strain::{piezo_boundary, strain_faces, PIEZO_BOUNDARY_NAMES, STRAIN_FACE_NAMES};
use sweep::sweep;

/// Upper bound on the temperature, K: the materials' limit (their Varshni fits rest on data
/// up to a few hundred K; [`crate::materials::Material::check_temperature`] also requires a
/// positive gap at the scene's temperature).
pub const MAX_TEMPERATURE_K: f64 = crate::materials::MAX_TEMPERATURE_K;
/// Lower bound on the temperature of the device modes (poisson, self_consistent), K. Below
/// it kT < 86 µeV: the Newton steps of the Poisson solver, damped to a few kT, would need
/// over 10⁴ iterations to bend the bands by 1 V, and Boltzmann factors e^{(E_F − Ec)/kT}
/// overflow 61 meV into degeneracy. The Schrödinger mode uses T only in the Varshni gap and
/// takes any T > 0.
pub const MIN_DEVICE_TEMPERATURE_K: f64 = 1.0;
/// Upper bound on |voltage| of contacts and gates, V: far beyond breakdown of any
/// semiconductor device (a few V per 100 nm), a bound that catches unit slips (mV) and
/// absurd values before they overflow the statistics.
pub const MAX_VOLTAGE_V: f64 = 100.0;
/// Bound on |barrier| of Schottky contacts and gates, eV (real barriers are 0 to ~1.5 eV).
pub const MAX_BARRIER_EV: f64 = 10.0;
/// Smallest non-zero doping density, cm^-3: below the background impurity level of the
/// purest crystals (~1e12), so a smaller value is a unit slip; 0 means undoped.
pub const MIN_DOPING_CM3: f64 = 1e10;
/// Upper bound on `solve.states`.
pub const MAX_STATES: usize = 1000;
/// Upper bound on `solve.tolerance` (relative residual).
pub const MAX_TOLERANCE: f64 = 1e-2;
/// Upper bound on the number of grid cells: the sparse matrices index columns with u32
/// (the same cap as the simulation's memory check).
pub const MAX_CELLS: u64 = u32::MAX as u64 - 1;
/// Upper bound on a doping density, cm^-3.
pub const MAX_DOPING_CM3: f64 = 1e22;
/// Upper bound on a dopant ionisation energy, eV.
pub const MAX_IONISATION_EV: f64 = 2.0;
/// Upper bound on `solve.poisson.mixing.history`.
pub const MAX_HISTORY: usize = 50;

const AXES: [&str; 3] = ["x", "y", "z"];

fn err(path: impl Into<String>, reason: impl Into<String>) -> QdError {
    QdError::input(path, reason)
}

pub use crate::error::fmt_num;

fn num(v: f64) -> String {
    fmt_num(v)
}

/// A finite number (any sign).
fn finite(path: &str, v: f64, what: &str) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(err(path, format!("must be a finite {what}, got {}", num(v))))
    }
}

/// A finite number > 0.
fn positive(path: &str, v: f64, what: &str) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(err(path, format!("must be a positive {what}, got {}", num(v))))
    }
}

/// A finite number ≥ 0.
fn non_negative(path: &str, v: f64, what: &str) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(err(path, format!("must be a finite {what} ≥ 0, got {}", num(v))))
    }
}

fn alloy_x(path: &str, x: Option<f64>) -> Result<()> {
    if let Some(x) = x {
        if !(x.is_finite() && (0.0..=1.0).contains(&x)) {
            return Err(err(path, format!("alloy fraction must be in [0, 1], got {}", num(x))));
        }
    }
    Ok(())
}

/// Check the domain; returns its dimension and the number of grid cells.
fn domain(scene: &Scene) -> Result<(usize, u64)> {
    let d = &scene.domain;
    let dim = d.size.len();
    if !(1..=3).contains(&dim) {
        return Err(err("domain.size", format!("needs 1, 2 or 3 entries (the extent in nm along x, y, z), got {dim}")));
    }
    for (a, s) in d.size.iter().enumerate() {
        positive(&format!("domain.size[{a}]"), *s, "length in nm")?;
    }
    match &d.spacing {
        Spacing::Uniform(h) => positive("domain.spacing", *h, "length in nm")?,
        Spacing::PerAxis(v) => {
            if v.len() != dim {
                return Err(err(
                    "domain.spacing",
                    format!("has {} entries but domain.size has {dim}: give one number or one per axis", v.len()),
                ));
            }
            for (a, h) in v.iter().enumerate() {
                positive(&format!("domain.spacing[{a}]"), *h, "length in nm")?;
            }
        }
    }
    if let Some(p) = &d.periodic {
        if p.len() != dim {
            return Err(err("domain.periodic", format!("has {} entries, the domain has {dim} axes: give one true/false per axis", p.len())));
        }
    }
    // cell counts per axis (at least 3, at most 1e9): the rule the grid is built on
    let g = d.cells()?;
    let cells = g.n.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n as u64));
    match cells {
        Some(c) if c <= MAX_CELLS => Ok((dim, c)),
        _ => Err(err(
            "domain.spacing",
            format!("gives {:?} cells, more than the {MAX_CELLS} a grid can hold: use a coarser spacing", g.dims()),
        )),
    }
}

/// Most regions a scene may have: fills are numbered with `u16` (0 is the background).
pub const MAX_REGIONS: usize = u16::MAX as usize - 1;

/// Check a scene's structure. Material names are left to the simulation.
pub fn validate(scene: &Scene) -> Result<()> {
    let (dim, cells) = domain(scene)?;
    let size = &scene.domain.size;
    // graded grids: mode schrodinger only (its strain and piezoelectric potential
    // included); the device modes' contacts, quantum region and carrier integrals assume
    // uniform cells
    if let Some(f) = scene.domain.graded_field() {
        if scene.solve.mode != SolveMode::Schrodinger {
            return Err(err(f, format!("makes a graded grid, which mode {} does not support yet: use a uniform spacing (mode schrodinger takes graded grids)", mode_name(scene.solve.mode))));
        }
    }

    let t = scene.temperature;
    if !(t.is_finite() && t > 0.0 && t <= MAX_TEMPERATURE_K) {
        return Err(err("temperature", format!("must be in (0, {}] K, got {} K", num(MAX_TEMPERATURE_K), num(t))));
    }
    if scene.solve.mode != SolveMode::Schrodinger && t < MIN_DEVICE_TEMPERATURE_K {
        return Err(err(
            "temperature",
            format!(
                "must be at least {} K in mode {} (got {} K): below it kT < 86 µeV, beyond what the carrier statistics and the Poisson solver can follow; the schrodinger mode takes any T > 0",
                num(MIN_DEVICE_TEMPERATURE_K),
                mode_name(scene.solve.mode),
                num(t)
            ),
        ));
    }
    if let Some(p) = &scene.materials_file {
        if p.as_os_str().is_empty() {
            return Err(err("materials_file", "is an empty path: give a JSON materials file or leave the field out"));
        }
    }
    alloy_x("background.x", scene.background.x)?;
    if let Some(d) = &scene.background.doping {
        doping("background.doping", d)?;
    }

    // the material map numbers fills with 16 bits (region i is fill i + 1, 0 the background)
    if scene.regions.len() > MAX_REGIONS {
        return Err(err("regions", format!("has {} entries, at most {MAX_REGIONS} are supported (the material map numbers fills with 16 bits): merge regions of one material into fewer, larger shapes", scene.regions.len())));
    }
    for (i, r) in scene.regions.iter().enumerate() {
        let p = format!("regions[{i}].shape");
        shape(&p, &r.shape, dim)?;
        touches_domain(&p, &r.shape, size)?;
        alloy_x(&format!("regions[{i}].x"), r.x)?;
        if let Some(d) = &r.doping {
            doping(&format!("regions[{i}].doping"), d)?;
        }
    }
    contacts(scene, dim)?;
    for (i, g) in scene.gates.iter().enumerate() {
        gate(i, g, dim, size)?;
    }

    for (i, pot) in scene.potentials.iter().enumerate() {
        potential(i, pot, dim, size)?;
    }

    let s = &scene.solve;
    if s.states < 1 || s.states > MAX_STATES {
        return Err(err("solve.states", format!("must be between 1 and {MAX_STATES}, got {}", s.states)));
    }
    if s.states as u64 > cells {
        return Err(err("solve.states", format!("asks for {} states but the grid has only {cells} cells", s.states)));
    }
    if !(s.tolerance.is_finite() && s.tolerance > 0.0 && s.tolerance <= MAX_TOLERANCE) {
        return Err(err(
            "solve.tolerance",
            format!("must be a relative residual in (0, {}], got {}", num(MAX_TOLERANCE), num(s.tolerance)),
        ));
    }
    if s.max_iterations < 1 {
        return Err(err("solve.max_iterations", format!("must be at least 1, got {}", s.max_iterations)));
    }
    if let Some(b) = s.block_size {
        if b < 1 || b > 64 {
            return Err(err("solve.block_size", format!("must be between 1 and 64, got {b}")));
        }
    }
    poisson(scene, dim)?;
    strain::strain(scene, dim)?;
    if let Some(sw) = &scene.sweep {
        sweep(scene, sw)?;
    }
    Ok(())
}

/// Half-width of the domain along axis `a`, nm.
fn half(size: &[f64], a: usize) -> f64 {
    size[a] / 2.0
}

fn mode_name(m: SolveMode) -> &'static str {
    match m {
        SolveMode::Schrodinger => "schrodinger",
        SolveMode::Poisson => "poisson",
        SolveMode::SelfConsistent => "self_consistent",
    }
}
