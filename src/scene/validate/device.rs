//! Validation of the device description: doping, contacts, gates and the `solve.poisson`
//! block with its quantum region.

use super::*;

/// A doping block at `path`.
pub(super) fn doping(path: &str, d: &Doping) -> Result<()> {
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

pub(super) fn contacts(scene: &Scene, dim: usize) -> Result<()> {
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

pub(super) fn face_list(dim: usize) -> String {
    crate::scene::Face::ALL.iter().filter(|f| f.axis() < dim).map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
}

/// Two contacts on the same face overlap unless both have patches that are disjoint (open
/// intervals: patches that only touch along an edge are disjoint).
pub(super) fn patches_overlap(a: &Contact, b: &Contact) -> bool {
    match (&a.patch, &b.patch) {
        (Some(p), Some(q)) => (0..p.min.len()).all(|k| p.min[k] < q.max[k] && q.min[k] < p.max[k]),
        _ => true,
    }
}

/// A contact or gate voltage: |V| ≤ [`MAX_VOLTAGE_V`].
pub(super) fn voltage(path: &str, v: f64) -> Result<()> {
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
pub(super) fn barrier(path: &str, b: f64) -> Result<()> {
    finite(path, b, "barrier height in eV")?;
    if b.abs() > MAX_BARRIER_EV {
        return Err(err(
            path,
            format!("{} eV is beyond ±{} eV: a Schottky barrier is a fraction of the band gap (0 to ~1.5 eV)", num(b), num(MAX_BARRIER_EV)),
        ));
    }
    Ok(())
}

pub(super) fn gate(i: usize, g: &Gate, dim: usize, size: &[f64]) -> Result<()> {
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
pub(super) fn box_in_domain(path: &str, b: &BoxRange, scene: &Scene, dim: usize) -> Result<()> {
    let size = &scene.domain.size;
    for (which, v) in [("min", &b.min), ("max", &b.max)] {
        if v.len() != dim {
            return Err(err(format!("{path}.{which}"), format!("has {} entries: give one coordinate in nm per axis of the {dim}D domain", v.len())));
        }
        for (a, x) in v.iter().enumerate() {
            finite(&format!("{path}.{which}[{a}]"), *x, "coordinate in nm")?;
        }
    }
    let grid = scene.domain.cells()?;
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

pub(super) fn poisson(scene: &Scene, dim: usize) -> Result<()> {
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
