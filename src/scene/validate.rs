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

use super::{
    path::JsonPath, Axis, BoxRange, Contact, ContactKind, Doping, Gate, Potential, Scene, Shape, SolveMode, Spacing, SweepValues,
};
use crate::materials::Carrier;
use crate::error::{QdError, Result};
use crate::grid::shapes::bounding_box;
use crate::grid::Grid;

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

/// A number for a message, compact at every magnitude: `{}` (shortest round-trip) for
/// 1e-4 ≤ |v| < 1e7 and zero, else the shortest scientific form (`1e300`, `2.5e-9`), so a
/// value of 1e300 prints as `1e300`, not as 301 digits. NaN and infinities as Rust prints
/// them.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e7).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

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

/// A point in nm: 1..=dim entries or exactly 3, every entry finite.
fn point(path: &str, v: &[f64], dim: usize) -> Result<()> {
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
fn shape(path: &str, s: &Shape, dim: usize) -> Result<()> {
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
fn touches_domain(path: &str, s: &Shape, size: &[f64]) -> Result<()> {
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
    // cell counts per axis (at least 3, at most 1e9) are the grid's own rule
    let g = Grid::from_domain(d)?;
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
    if let Some(sw) = &scene.sweep {
        sweep(scene, sw)?;
    }
    Ok(())
}

/// A doping block at `path`.
fn doping(path: &str, d: &Doping) -> Result<()> {
    for (field, v) in [("donors", d.donors), ("acceptors", d.acceptors)] {
        let p = format!("{path}.{field}");
        if !(v.is_finite() && v >= 0.0) {
            return Err(err(p, format!("must be a density ≥ 0 in cm^-3, got {}", num(v))));
        }
        if v > MAX_DOPING_CM3 {
            return Err(err(
                p,
                format!(
                    "{} cm^-3 exceeds {} cm^-3, more than any doping (a crystal has ~4e22 atoms/cm^3): check the unit is cm^-3",
                    num(v),
                    num(MAX_DOPING_CM3)
                ),
            ));
        }
        if v > 0.0 && v < MIN_DOPING_CM3 {
            return Err(err(
                p,
                format!(
                    "{} cm^-3 is below {} cm^-3, less than the impurities of the purest crystal: give 0 for undoped, or check the unit is cm^-3",
                    num(v),
                    num(MIN_DOPING_CM3)
                ),
            ));
        }
    }
    for (field, v) in [("donor_energy", d.donor_energy), ("acceptor_energy", d.acceptor_energy)] {
        if let Some(e) = v {
            if !(e.is_finite() && (0.0..=MAX_IONISATION_EV).contains(&e)) {
                return Err(err(
                    format!("{path}.{field}"),
                    format!("must be an ionisation energy in [0, {}] eV measured from the band edge, got {}", num(MAX_IONISATION_EV), num(e)),
                ));
            }
        }
    }
    Ok(())
}

/// Half-width of the domain along axis `a`, nm.
fn half(size: &[f64], a: usize) -> f64 {
    size[a] / 2.0
}

fn contacts(scene: &Scene, dim: usize) -> Result<()> {
    let size = &scene.domain.size;
    let periodic = scene.domain.periodic.clone().unwrap_or_else(|| vec![false; dim]);
    for (i, c) in scene.contacts.iter().enumerate() {
        let f = |field: &str| format!("contacts[{i}].{field}");
        let a = c.face.axis();
        if a >= dim {
            return Err(err(
                f("face"),
                format!("{} is not a face of a {dim}D domain: use one of {}", c.face.as_str(), face_list(dim)),
            ));
        }
        if periodic[a] {
            return Err(err(
                f("face"),
                format!("{} lies on the periodic axis {}: a periodic axis has no boundary to hold a contact", c.face.as_str(), AXES[a]),
            ));
        }
        voltage(&f("voltage"), c.voltage)?;
        match (c.kind, c.barrier) {
            (ContactKind::Schottky, None) => {
                return Err(err(format!("contacts[{i}]"), "a schottky contact needs \"barrier\", the barrier height in eV"))
            }
            (ContactKind::Schottky, Some(b)) => barrier(&f("barrier"), b)?,
            (ContactKind::Ohmic, Some(_)) => {
                return Err(err(f("barrier"), "is only used by schottky contacts: an ohmic contact has no barrier, remove it"))
            }
            (ContactKind::Ohmic, None) => {}
        }
        if let Some(p) = &c.patch {
            let t = c.face.tangential_axes(dim);
            if t.is_empty() {
                return Err(err(f("patch"), "a face of a 1D domain is a point: it cannot have a patch"));
            }
            let names: Vec<&str> = t.iter().map(|&a| AXES[a]).collect();
            for (which, v) in [("min", &p.min), ("max", &p.max)] {
                if v.len() != t.len() {
                    return Err(err(
                        format!("contacts[{i}].patch.{which}"),
                        format!(
                            "has {} entries: a patch on {} gives the tangential coordinates ({}) in nm, {} entries",
                            v.len(),
                            c.face.as_str(),
                            names.join(", "),
                            t.len()
                        ),
                    ));
                }
                for (k, x) in v.iter().enumerate() {
                    finite(&format!("contacts[{i}].patch.{which}[{k}]"), *x, "coordinate in nm")?;
                }
            }
            for (k, &ax) in t.iter().enumerate() {
                let (lo, hi) = (p.min[k], p.max[k]);
                if lo >= hi {
                    return Err(err(
                        format!("contacts[{i}].patch.max[{k}]"),
                        format!("must be greater than min[{k}] along {}: got min {} nm, max {} nm", AXES[ax], num(lo), num(hi)),
                    ));
                }
                let h = half(size, ax);
                if hi <= -h || lo >= h {
                    return Err(err(
                        format!("contacts[{i}].patch"),
                        format!("lies outside the face: it spans [{}, {}] nm along {} but the domain spans [{}, {}] nm", num(lo), num(hi), AXES[ax], num(-h), num(h)),
                    ));
                }
            }
        }
        for (j, other) in scene.contacts[..i].iter().enumerate() {
            if other.face == c.face && patches_overlap(other, c) {
                return Err(err(
                    format!("contacts[{i}]"),
                    format!(
                        "overlaps contacts[{j}] on face {}: contacts on one face must cover disjoint patches",
                        c.face.as_str()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn face_list(dim: usize) -> String {
    super::Face::ALL.iter().filter(|f| f.axis() < dim).map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
}

/// Two contacts on the same face overlap unless both have patches that are disjoint (open
/// intervals: patches that only touch along an edge are disjoint).
fn patches_overlap(a: &Contact, b: &Contact) -> bool {
    match (&a.patch, &b.patch) {
        (Some(p), Some(q)) => (0..p.min.len()).all(|k| p.min[k] < q.max[k] && q.min[k] < p.max[k]),
        _ => true,
    }
}

/// A contact or gate voltage: |V| ≤ [`MAX_VOLTAGE_V`].
fn voltage(path: &str, v: f64) -> Result<()> {
    finite(path, v, "voltage in V")?;
    if v.abs() > MAX_VOLTAGE_V {
        return Err(err(
            path,
            format!(
                "{} V is beyond ±{} V, far past the breakdown of any semiconductor device: check the value and the unit (V)",
                num(v),
                num(MAX_VOLTAGE_V)
            ),
        ));
    }
    Ok(())
}

/// A Schottky barrier height: |barrier| ≤ [`MAX_BARRIER_EV`].
fn barrier(path: &str, b: f64) -> Result<()> {
    finite(path, b, "barrier height in eV")?;
    if b.abs() > MAX_BARRIER_EV {
        return Err(err(
            path,
            format!("{} eV is beyond ±{} eV: a Schottky barrier is a fraction of the band gap (0 to ~1.5 eV)", num(b), num(MAX_BARRIER_EV)),
        ));
    }
    Ok(())
}

fn mode_name(m: SolveMode) -> &'static str {
    match m {
        SolveMode::Schrodinger => "schrodinger",
        SolveMode::Poisson => "poisson",
        SolveMode::SelfConsistent => "self_consistent",
    }
}

fn gate(i: usize, g: &Gate, dim: usize, size: &[f64]) -> Result<()> {
    let p = format!("gates[{i}].shape");
    shape(&p, &g.shape, dim)?;
    touches_domain(&p, &g.shape, size)?;
    voltage(&format!("gates[{i}].voltage"), g.voltage)?;
    if let Some(b) = g.barrier {
        barrier(&format!("gates[{i}].barrier"), b)?;
    }
    Ok(())
}

/// The box `b` at `path` has one entry per axis and lies inside the domain.
fn box_in_domain(path: &str, b: &BoxRange, scene: &Scene, dim: usize) -> Result<()> {
    let size = &scene.domain.size;
    for (which, v) in [("min", &b.min), ("max", &b.max)] {
        if v.len() != dim {
            return Err(err(format!("{path}.{which}"), format!("has {} entries: give one coordinate in nm per axis of the {dim}D domain", v.len())));
        }
        for (a, x) in v.iter().enumerate() {
            finite(&format!("{path}.{which}[{a}]"), *x, "coordinate in nm")?;
        }
    }
    let grid = Grid::from_domain(&scene.domain)?;
    for a in 0..dim {
        let (lo, hi) = (b.min[a], b.max[a]);
        if lo >= hi {
            return Err(err(
                format!("{path}.max[{a}]"),
                format!("must be greater than min[{a}] along {}: got min {} nm, max {} nm", AXES[a], num(lo), num(hi)),
            ));
        }
        let h = half(size, a);
        let slack = 1e-9 * size[a];
        if lo < -h - slack || hi > h + slack {
            return Err(err(
                path,
                format!("must lie inside the domain: it spans [{}, {}] nm along {} but the domain spans [{}, {}] nm", num(lo), num(hi), AXES[a], num(-h), num(h)),
            ));
        }
        let inside = (0..grid.n[a]).filter(|&k| (lo..=hi).contains(&grid.center_coord(a, k))).count();
        if inside < 3 {
            return Err(err(
                path,
                format!(
                    "holds {inside} cell centres along {} (spacing {} nm): the quantum problem needs at least 3",
                    AXES[a], num(grid.h[a])
                ),
            ));
        }
    }
    Ok(())
}

fn poisson(scene: &Scene, dim: usize) -> Result<()> {
    let s = &scene.solve;
    let Some(p) = &s.poisson else {
        if s.mode == SolveMode::SelfConsistent {
            return Err(err(
                "solve.poisson",
                "mode self_consistent needs solve.poisson.quantum_region, the box (nm) whose electrons below its continuum edge come from the Schrödinger states (those above it stay classical)",
            ));
        }
        return Ok(());
    };
    if s.mode == SolveMode::Schrodinger {
        return Err(err(
            "solve.poisson",
            "is only used by modes \"poisson\" and \"self_consistent\": set solve.mode, or remove the block",
        ));
    }
    if !(p.tolerance.is_finite() && p.tolerance > 0.0) {
        return Err(err("solve.poisson.tolerance", format!("must be a positive potential change in V, got {}", num(p.tolerance))));
    }
    if p.max_iterations < 1 {
        return Err(err("solve.poisson.max_iterations", format!("must be at least 1, got {}", p.max_iterations)));
    }
    let m = &p.mixing;
    if !(m.beta.is_finite() && m.beta > 0.0 && m.beta <= 1.0) {
        return Err(err("solve.poisson.mixing.beta", format!("must be a mixing weight in (0, 1], got {}", num(m.beta))));
    }
    if m.history < 1 || m.history > MAX_HISTORY {
        return Err(err("solve.poisson.mixing.history", format!("must be between 1 and {MAX_HISTORY}, got {}", m.history)));
    }
    match (s.mode, &p.quantum_region) {
        (SolveMode::SelfConsistent, None) => Err(err(
            "solve.poisson.quantum_region",
            "is required in mode self_consistent: the box (nm) whose electrons below its continuum edge come from the Schrödinger states (those above it stay classical)",
        )),
        (SolveMode::SelfConsistent, Some(b)) => {
            if s.carrier != Carrier::Electron {
                return Err(err(
                    "solve.carrier",
                    format!("mode self_consistent treats electrons quantum mechanically: the carrier must be electron, got {}", s.carrier.as_str()),
                ));
            }
            box_in_domain("solve.poisson.quantum_region", b, scene, dim)
        }
        (_, Some(_)) => Err(err(
            "solve.poisson.quantum_region",
            "is only used in mode self_consistent: remove it for a classical poisson solve",
        )),
        (_, None) => Ok(()),
    }
}

/// The sweep's parameter exists and every value gives a valid scene.
fn sweep(scene: &Scene, sw: &super::Sweep) -> Result<()> {
    let path = JsonPath::parse(&sw.parameter)?;
    if matches!(path.steps.first(), Some(super::path::Step::Key(k)) if k == "sweep") {
        return Err(err("sweep.parameter", "a sweep cannot vary itself"));
    }
    let count = match &sw.values {
        SweepValues::List(v) => v.len(),
        SweepValues::Range(r) => r.steps,
    };
    if count > crate::pipeline::sweep::MAX_SWEEP_POINTS {
        return Err(crate::pipeline::sweep::too_many("sweep.values", &format!("the sweep of `{}`", sw.parameter), count));
    }
    match &sw.values {
        SweepValues::List(v) if v.is_empty() => return Err(err("sweep.values", "is empty: give at least one value")),
        SweepValues::Range(r) => {
            finite("sweep.values.from", r.from, "number")?;
            finite("sweep.values.to", r.to, "number")?;
            if r.steps < 2 {
                return Err(err("sweep.values.steps", format!("must be at least 2 (from and to both included), got {}", r.steps)));
            }
        }
        _ => {}
    }
    let mut base = scene.clone();
    base.sweep = None;
    let json = serde_json::to_value(&base).map_err(|e| QdError::Internal(format!("scene to JSON: {e}")))?;
    // every step must exist (the last key may be new): the same rule as the assignment
    path.set(&mut json.clone(), serde_json::Value::Null)?;
    for (k, v) in sw.values.values().into_iter().enumerate() {
        let at = match &sw.values {
            SweepValues::List(_) => format!("sweep.values[{k}]"),
            SweepValues::Range(_) => "sweep.values".to_string(),
        };
        let edited = super::path::with_value(&json, &path, v.clone())?;
        let check = super::parse_scene(&edited.to_string()).and_then(|s| validate(&s));
        if let Err(e) = check {
            return Err(match e {
                QdError::Input { path: p, reason } if p != at => {
                    err(at, format!("{} = {v} gives an invalid scene: at `{p}`: {reason}", sw.parameter))
                }
                other => other,
            });
        }
    }
    Ok(())
}

fn potential(i: usize, pot: &Potential, dim: usize, size: &[f64]) -> Result<()> {
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

fn axis_name(a: Axis) -> &'static str {
    AXES[a.index()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::parse_scene;
    use serde_json::{json, Value};

    /// A valid 3D scene using every shape and potential.
    fn base() -> Value {
        json!({
            "name": "all shapes",
            "domain": { "size": [40, 40, 20], "spacing": 1.0, "periodic": [false, false, false] },
            "temperature": 77,
            "background": { "material": "AlGaAs", "x": 0.3 },
            "regions": [
                { "shape": { "type": "layer", "axis": "z", "from": -2, "to": 2 }, "material": "GaAs" },
                { "shape": { "type": "box", "min": [-5, -5, -1], "max": [5, 5, 1] }, "material": "InGaAs", "x": 0.2 },
                { "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 3 }, "material": "InAs" },
                { "shape": { "type": "cylinder", "center": [1, 0], "radius": 4, "height": 2 }, "material": "InAs" },
                { "shape": { "type": "cone", "base": [0, 0, -1], "base_radius": 5, "top_radius": 2, "height": 3 }, "material": "InAs" },
                { "shape": { "type": "pyramid", "base": [0, 0, -1], "base_width": 8, "height": 4, "axis": "z" }, "material": "InAs" },
                { "shape": { "type": "lens", "base": [0, 0, -1], "radius": 6, "height": 3 }, "material": "InAs" },
                { "shape": { "type": "ellipsoid", "center": [0, 0, 0], "semi_axes": [4, 3, 2] }, "material": "InAs" }
            ],
            "potentials": [
                { "type": "harmonic", "hbar_omega": 0.01, "mass": 0.067, "axes": ["x", "y"] },
                { "type": "harmonic", "spring_constant": 0.001, "center": [1, 1, 0] },
                { "type": "gaussian", "depth": 0.1, "sigma": [3, 3, 2] },
                { "type": "square_well", "depth": -0.05, "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 2 } },
                { "type": "file", "path": "v.npy", "scale": 0.5 }
            ],
            "solve": { "states": 6, "carrier": "heavy_hole", "tolerance": 1e-8, "max_iterations": 5000 },
            "output": { "npy": true, "vtk": false, "plots": false, "wavefunctions": true }
        })
    }

    fn run(v: &Value) -> Result<()> {
        let scene = parse_scene(&v.to_string())?;
        validate(&scene)
    }

    /// Apply `edit` to the base scene and return the error's (path, reason).
    fn fails(edit: impl FnOnce(&mut Value)) -> (String, String) {
        let mut v = base();
        edit(&mut v);
        rejected(&v)
    }

    /// The (path, reason) of the input error `v` must give.
    fn rejected(v: &Value) -> (String, String) {
        let e = run(v).expect_err("scene should be rejected");
        assert_eq!(e.exit_code(), 2, "{e}");
        match e {
            QdError::Input { path, reason } => (path, reason),
            other => panic!("not an input error: {other}"),
        }
    }

    fn path_of(edit: impl FnOnce(&mut Value)) -> String {
        fails(edit).0
    }

    #[test]
    fn base_scene_is_valid() {
        run(&base()).unwrap();
    }

    #[test]
    fn domain_rules() {
        assert_eq!(path_of(|v| v["domain"]["size"] = json!([])), "domain.size");
        assert_eq!(path_of(|v| v["domain"]["size"] = json!([1, 2, 3, 4])), "domain.size");
        let (p, r) = fails(|v| v["domain"]["size"] = json!([40, -4, 20]));
        assert_eq!(p, "domain.size[1]");
        assert!(r.contains("nm") && r.contains("-4"), "{r}");
        assert_eq!(path_of(|v| v["domain"]["size"][2] = json!(0.0)), "domain.size[2]");
        assert_eq!(path_of(|v| v["domain"]["spacing"] = json!(0)), "domain.spacing");
        assert_eq!(path_of(|v| v["domain"]["spacing"] = json!(-1.0)), "domain.spacing");
        assert_eq!(path_of(|v| v["domain"]["spacing"] = json!([1, 1])), "domain.spacing");
        assert_eq!(path_of(|v| v["domain"]["spacing"] = json!([1, 0, 1])), "domain.spacing[1]");
        assert_eq!(path_of(|v| v["domain"]["periodic"] = json!([true])), "domain.periodic");
        // fewer than 3 cells along an axis
        assert_eq!(path_of(|v| v["domain"]["spacing"] = json!(10.0)), "domain.spacing");
        // more cells than u32 indices allow: 2000^3 = 8e9
        let (p, r) = fails(|v| {
            v["domain"]["size"] = json!([2000, 2000, 2000]);
            v["domain"]["spacing"] = json!(1.0);
        });
        assert_eq!(p, "domain.spacing");
        assert!(r.contains("cells"), "{r}");
    }

    #[test]
    fn temperature_rules() {
        for t in [json!(0), json!(-10), json!(5000), json!(1001)] {
            let (p, r) = fails(|v| v["temperature"] = t.clone());
            assert_eq!(p, "temperature");
            assert!(r.contains(" K"), "{r}");
        }
        let mut v = base();
        v["temperature"] = json!(1000);
        run(&v).unwrap();
        // the Schrödinger mode takes any T > 0 (T only enters the Varshni gap)
        v["temperature"] = json!(1e-300);
        run(&v).unwrap();
    }

    /// A 1D device scene (mode poisson) with a gate and two contacts.
    fn device() -> Value {
        json!({
            "domain": { "size": [100], "spacing": 1.0 },
            "temperature": 300,
            "background": { "material": "GaAs", "doping": { "donors": 1e17 } },
            "contacts": [
                { "face": "x_min", "type": "ohmic", "voltage": 0.1 },
                { "face": "x_max", "type": "schottky", "voltage": -0.5, "barrier": 0.8 }
            ],
            "gates": [ { "shape": { "type": "layer", "axis": "x", "from": -5, "to": 5 }, "voltage": 0.2, "barrier": 0.7 } ],
            "solve": { "mode": "poisson" }
        })
    }

    fn device_fails(edit: impl FnOnce(&mut Value)) -> (String, String) {
        let mut v = device();
        edit(&mut v);
        rejected(&v)
    }

    #[test]
    fn compact_numbers() {
        assert_eq!(fmt_num(1e300), "1e300");
        assert_eq!(fmt_num(-1e300), "-1e300");
        assert_eq!(fmt_num(1e-300), "1e-300");
        assert_eq!(fmt_num(f64::MAX), "1.7976931348623157e308");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.3), "0.3");
        assert_eq!(fmt_num(-4.0), "-4");
        assert_eq!(fmt_num(300.0), "300");
        assert_eq!(fmt_num(1e17), "1e17");
        assert_eq!(fmt_num(2.5e-9), "2.5e-9");
        assert_eq!(fmt_num(f64::NAN), "NaN");
    }

    #[test]
    fn more_regions_than_the_fill_numbers_hold_are_refused() {
        // 65 535 regions wrapped the 16-bit fill numbers silently (region 65 535 painted as the background)
        let (p, r) = fails(|v| {
            let one = v["regions"][0].clone();
            v["regions"] = Value::Array(vec![one; MAX_REGIONS + 1]);
        });
        assert_eq!(p, "regions");
        assert!(r.contains("65535 entries") && r.contains("at most 65534"), "{r}");
        let mut v = base();
        let one = v["regions"][0].clone();
        v["regions"] = Value::Array(vec![one; MAX_REGIONS]);
        run(&v).unwrap();
    }

    #[test]
    fn device_temperature_voltage_and_doping_bounds() {
        run(&device()).unwrap();
        // the statistics cannot follow below 1 K: T = 1e-300 K failed inside neutral_potential
        for t in [json!(1e-300), json!(0.5)] {
            let (p, r) = device_fails(|v| v["temperature"] = t.clone());
            assert_eq!(p, "temperature");
            assert!(r.contains("at least 1 K") && r.contains("poisson"), "{r}");
        }
        let mut v = device();
        v["temperature"] = json!(1);
        run(&v).unwrap();
        // voltages: |V| ≤ 100 V, printed compactly
        let (p, r) = device_fails(|v| v["contacts"][0]["voltage"] = json!(1e300));
        assert_eq!(p, "contacts[0].voltage");
        assert!(r.contains("1e300 V") && r.contains("±100 V") && r.len() < 200, "{r}");
        assert_eq!(device_fails(|v| v["contacts"][1]["voltage"] = json!(-101)).0, "contacts[1].voltage");
        assert_eq!(device_fails(|v| v["gates"][0]["voltage"] = json!(250)).0, "gates[0].voltage");
        let mut v = device();
        v["contacts"][0]["voltage"] = json!(-100);
        run(&v).unwrap();
        // barriers: |barrier| ≤ 10 eV
        assert_eq!(device_fails(|v| v["contacts"][1]["barrier"] = json!(1e6)).0, "contacts[1].barrier");
        assert_eq!(device_fails(|v| v["gates"][0]["barrier"] = json!(-11)).0, "gates[0].barrier");
        // doping: 0, or 1e10 to 1e22 cm^-3
        let (p, r) = device_fails(|v| v["background"]["doping"]["donors"] = json!(1e5));
        assert_eq!(p, "background.doping.donors");
        assert!(r.contains("1e10") && r.contains("100000"), "{r}");
        assert_eq!(device_fails(|v| v["background"]["doping"]["acceptors"] = json!(1e-300)).0, "background.doping.acceptors");
        let (p, r) = device_fails(|v| v["background"]["doping"]["donors"] = json!(1e300));
        assert_eq!(p, "background.doping.donors");
        assert!(r.starts_with("1e300 cm^-3"), "{r}");
        let mut v = device();
        v["background"]["doping"] = json!({ "donors": 0, "acceptors": 1e10 });
        run(&v).unwrap();
    }

    #[test]
    fn temperature_nan_from_code() {
        // JSON cannot hold NaN, but a scene built in code can
        let mut s = parse_scene(&base().to_string()).unwrap();
        s.temperature = f64::NAN;
        let e = validate(&s).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(matches!(e, QdError::Input { ref path, .. } if path == "temperature"));
        let mut s = parse_scene(&base().to_string()).unwrap();
        s.regions[2].shape = Shape::Sphere { center: vec![0.0, f64::INFINITY], radius: 1.0 };
        let e = validate(&s).unwrap_err();
        assert!(matches!(e, QdError::Input { ref path, .. } if path == "regions[2].shape.center[1]"), "{e}");
    }

    #[test]
    fn materials_file_and_alloy_fraction() {
        assert_eq!(path_of(|v| v["materials_file"] = json!("")), "materials_file");
        let (p, r) = fails(|v| v["background"]["x"] = json!(1.5));
        assert_eq!(p, "background.x");
        assert!(r.contains("1.5"), "{r}");
        assert_eq!(path_of(|v| v["regions"][1]["x"] = json!(-0.1)), "regions[1].x");
    }

    #[test]
    fn layer_rules() {
        assert_eq!(path_of(|v| v["regions"][0]["shape"]["to"] = json!(-2)), "regions[0].shape.to");
        assert_eq!(path_of(|v| v["regions"][0]["shape"]["from"] = json!(5)), "regions[0].shape.to");
    }

    #[test]
    fn box_rules() {
        assert_eq!(path_of(|v| v["regions"][1]["shape"]["max"][2] = json!(-1)), "regions[1].shape.max[2]");
        assert_eq!(path_of(|v| v["regions"][1]["shape"]["max"] = json!([5, 5])), "regions[1].shape.max");
        assert_eq!(path_of(|v| v["regions"][1]["shape"]["min"] = json!([])), "regions[1].shape.min");
        assert_eq!(path_of(|v| v["regions"][1]["shape"]["min"] = json!([0, 0, 0, 0])), "regions[1].shape.min");
    }

    #[test]
    fn sphere_and_cylinder_rules() {
        let (p, r) = fails(|v| v["regions"][2]["shape"]["radius"] = json!(-3));
        assert_eq!(p, "regions[2].shape.radius");
        assert!(r.contains("nm") && r.contains("-3"), "{r}");
        assert_eq!(path_of(|v| v["regions"][2]["shape"]["radius"] = json!(0)), "regions[2].shape.radius");
        assert_eq!(path_of(|v| v["regions"][3]["shape"]["radius"] = json!(0)), "regions[3].shape.radius");
        assert_eq!(path_of(|v| v["regions"][3]["shape"]["height"] = json!(-1)), "regions[3].shape.height");
    }

    #[test]
    fn cone_rules() {
        assert_eq!(path_of(|v| v["regions"][4]["shape"]["base_radius"] = json!(0)), "regions[4].shape.base_radius");
        assert_eq!(path_of(|v| v["regions"][4]["shape"]["top_radius"] = json!(-1)), "regions[4].shape.top_radius");
        assert_eq!(path_of(|v| v["regions"][4]["shape"]["top_radius"] = json!(6)), "regions[4].shape.top_radius");
        assert_eq!(path_of(|v| v["regions"][4]["shape"]["height"] = json!(0)), "regions[4].shape.height");
    }

    #[test]
    fn pyramid_rules() {
        assert_eq!(path_of(|v| v["regions"][5]["shape"]["base_width"] = json!(-8)), "regions[5].shape.base_width");
        assert_eq!(path_of(|v| v["regions"][5]["shape"]["top_width"] = json!(9)), "regions[5].shape.top_width");
        assert_eq!(path_of(|v| v["regions"][5]["shape"]["height"] = json!(0)), "regions[5].shape.height");
    }

    #[test]
    fn lens_rules() {
        let (p, r) = fails(|v| v["regions"][6]["shape"]["height"] = json!(7));
        assert_eq!(p, "regions[6].shape.height");
        assert!(r.contains("hemisphere"), "{r}");
        assert_eq!(path_of(|v| v["regions"][6]["shape"]["radius"] = json!(0)), "regions[6].shape.radius");
        // a hemisphere is fine
        let mut v = base();
        v["regions"][6]["shape"]["height"] = json!(6);
        run(&v).unwrap();
    }

    #[test]
    fn ellipsoid_rules() {
        assert_eq!(path_of(|v| v["regions"][7]["shape"]["semi_axes"] = json!([4, 3])), "regions[7].shape.semi_axes");
        assert_eq!(path_of(|v| v["regions"][7]["shape"]["semi_axes"][2] = json!(0)), "regions[7].shape.semi_axes[2]");
    }

    #[test]
    fn point_length_rules() {
        // 2D domain: 1 or 2 entries, or 3; a 3-entry point off the plane is fine if the shape reaches it
        let mut v = base();
        v["domain"]["size"] = json!([40, 40]);
        v["domain"]["periodic"] = json!([false, true]);
        v["potentials"][0]["axes"] = json!(["x"]);
        v["potentials"][2]["sigma"] = json!(3);
        v["regions"][7]["shape"]["semi_axes"] = json!([4, 3]);
        v["regions"][0]["shape"]["axis"] = json!("x");
        run(&v).unwrap();
        // 1D domain: a 2-entry point is ambiguous
        let (p, r) = fails(|v| {
            v["domain"] = json!({ "size": [40], "spacing": 1 });
            v["regions"] = json!([{ "shape": { "type": "sphere", "center": [0, 1], "radius": 3 }, "material": "GaAs" }]);
            v["potentials"] = json!([]);
        });
        assert_eq!(p, "regions[0].shape.center");
        assert!(r.contains("1D"), "{r}");
    }

    #[test]
    fn region_outside_domain() {
        let (p, r) = fails(|v| v["regions"][2]["shape"]["center"] = json!([100, 0, 0]));
        assert_eq!(p, "regions[2].shape");
        assert!(r.contains("outside"), "{r}");
        // touching the boundary only is outside
        assert_eq!(path_of(|v| v["regions"][2]["shape"]["center"] = json!([23, 0, 0])), "regions[2].shape");
        assert_eq!(path_of(|v| v["regions"][0]["shape"] = json!({"type": "layer", "axis": "z", "from": 10, "to": 12})), "regions[0].shape");
        // in 2D, a layer normal to z must contain z = 0
        let (p, r) = fails(|v| {
            v["domain"] = json!({ "size": [40, 40], "spacing": 1 });
            v["regions"] = json!([{ "shape": { "type": "layer", "axis": "z", "from": 1, "to": 3 }, "material": "GaAs" }]);
            v["potentials"] = json!([]);
        });
        assert_eq!(p, "regions[0].shape");
        assert!(r.contains("z = 0"), "{r}");
    }

    #[test]
    fn solve_rules() {
        assert_eq!(path_of(|v| v["solve"]["states"] = json!(0)), "solve.states");
        assert_eq!(path_of(|v| v["solve"]["states"] = json!(1001)), "solve.states");
        assert_eq!(path_of(|v| v["solve"]["tolerance"] = json!(0)), "solve.tolerance");
        assert_eq!(path_of(|v| v["solve"]["tolerance"] = json!(0.1)), "solve.tolerance");
        assert_eq!(path_of(|v| v["solve"]["tolerance"] = json!(-1e-8)), "solve.tolerance");
        assert_eq!(path_of(|v| v["solve"]["max_iterations"] = json!(0)), "solve.max_iterations");
        // more states than cells
        let (p, r) = fails(|v| {
            v["domain"] = json!({ "size": [4], "spacing": 1 });
            v["regions"] = json!([]);
            v["potentials"] = json!([]);
            v["solve"]["states"] = json!(5);
        });
        assert_eq!(p, "solve.states");
        assert!(r.contains("4 cells"), "{r}");
    }

    #[test]
    fn harmonic_rules() {
        let (p, r) = fails(|v| v["potentials"][0]["hbar_omega"] = json!(-0.01));
        assert_eq!(p, "potentials[0].hbar_omega");
        assert!(r.contains("eV") && r.contains("-0.01"), "{r}");
        assert_eq!(path_of(|v| v["potentials"][1]["spring_constant"] = json!(0)), "potentials[1].spring_constant");
        assert_eq!(path_of(|v| v["potentials"][0]["spring_constant"] = json!(1)), "potentials[0].spring_constant");
        assert_eq!(
            path_of(|v| {
                v["potentials"][0].as_object_mut().unwrap().remove("hbar_omega");
            }),
            "potentials[0]"
        );
        assert_eq!(path_of(|v| v["potentials"][1]["mass"] = json!(0.067)), "potentials[1].mass");
        assert_eq!(path_of(|v| v["potentials"][0]["mass"] = json!(0)), "potentials[0].mass");
        assert_eq!(path_of(|v| v["potentials"][0]["axes"] = json!([])), "potentials[0].axes");
        assert_eq!(path_of(|v| v["potentials"][0]["axes"] = json!(["x", "x"])), "potentials[0].axes[1]");
        assert_eq!(path_of(|v| v["potentials"][1]["center"] = json!([])), "potentials[1].center");
        let (p, r) = fails(|v| {
            v["domain"] = json!({ "size": [40, 40], "spacing": 1 });
            v["regions"] = json!([]);
            v["potentials"] = json!([{ "type": "harmonic", "hbar_omega": 0.01, "axes": ["x", "z"] }]);
        });
        assert_eq!(p, "potentials[0].axes[1]");
        assert!(r.contains("2D"), "{r}");
    }

    #[test]
    fn gaussian_square_well_file_rules() {
        assert_eq!(path_of(|v| v["potentials"][2]["sigma"] = json!(0)), "potentials[2].sigma");
        assert_eq!(path_of(|v| v["potentials"][2]["sigma"] = json!([3, 3])), "potentials[2].sigma");
        assert_eq!(path_of(|v| v["potentials"][2]["sigma"][1] = json!(-3)), "potentials[2].sigma[1]");
        assert_eq!(path_of(|v| v["potentials"][3]["shape"]["radius"] = json!(-2)), "potentials[3].shape.radius");
        assert_eq!(path_of(|v| v["potentials"][3]["shape"]["center"] = json!([0, 0, 50])), "potentials[3].shape");
        assert_eq!(path_of(|v| v["potentials"][4]["path"] = json!("")), "potentials[4].path");
    }
}
