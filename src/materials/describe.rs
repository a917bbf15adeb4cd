//! The human-readable listing of `qdsim-gpu materials [NAME]`: a table of every material,
//! or one material's parameters with units and sources and its band edges at a temperature.

use std::fmt::Write as _;

use super::database::{fmt_frac, Alloy, Binary};
use super::*;

/// Human-readable listing for `qdsim-gpu materials [NAME] [--temperature T]`.
///
/// With no name: a table of every material (alloys with their endpoints and bowing, and a
/// row at x = 0.3 as an example), units in the header. With a name: every parameter with
/// units and source, plus Eg(T), Ec(T), Ev(T) at `t_kelvin`. For an alloy, `x` picks the
/// composition (default 0.3, labelled as an example); for a binary `x` must be None.
pub fn describe(
    db: &MaterialDb,
    name: Option<&str>,
    x: Option<f64>,
    t_kelvin: f64,
) -> std::result::Result<String, String> {
    if !t_kelvin.is_finite() || t_kelvin < 0.0 || t_kelvin > MAX_TEMPERATURE_K {
        return Err(format!(
            "temperature {} K must be in [0, {}] K",
            crate::error::fmt_num(t_kelvin),
            crate::error::fmt_num(MAX_TEMPERATURE_K)
        ));
    }
    match name {
        None => {
            if x.is_some() {
                return Err("\"x\" needs a material name".into());
            }
            Ok(describe_all(db, t_kelvin))
        }
        Some(n) => describe_one(db, n, x, t_kelvin),
    }
}

pub(super) const EXAMPLE_X: f64 = 0.3;

pub(super) fn table_header(t: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<18} {:>7} {:>7} {:>7} {:>8} {:>9} {:>6} {:>7} {:>6} {:>8} {:>9} {:>8} {:>8}",
        "material",
        "me",
        "mhh",
        "mlh",
        "Eg0",
        "alpha",
        "beta",
        "VBO",
        "eps_r",
        "a_lc",
        "Eg(T)",
        "Ec(T)",
        "Ev(T)"
    );
    let _ = writeln!(
        s,
        "{:<18} {:>7} {:>7} {:>7} {:>8} {:>9} {:>6} {:>7} {:>6} {:>8} {:>9} {:>8} {:>8}",
        "",
        "[m0]",
        "[m0]",
        "[m0]",
        "[eV]",
        "[meV/K]",
        "[K]",
        "[eV]",
        "[1]",
        "[Å]",
        format!("[eV]@{t}K"),
        "[eV]",
        "[eV]"
    );
    s
}

pub(super) fn table_row(m: &Material, t: f64) -> String {
    format!(
        "{:<18} {:>7.4} {:>7.4} {:>7.4} {:>8.4} {:>9.4} {:>6.0} {:>7.3} {:>6.2} {:>8.5} {:>9.4} {:>8.4} {:>8.4}\n",
        m.name,
        m.me,
        m.mhh,
        m.mlh,
        m.eg0,
        m.alpha * 1e3,
        m.beta,
        m.vbo,
        m.eps_r,
        m.a_lc,
        m.band_gap(t),
        m.ec(t),
        m.ev(t)
    )
}

pub(super) fn bowing_summary(al: &Alloy) -> String {
    if al.bowing.is_empty() {
        return "none (linear)".into();
    }
    al.bowing
        .iter()
        .map(|(i, b)| format!("{}: {}", strain::any_name(*i), b.describe()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn describe_all(db: &MaterialDb, t: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Materials at T = {t} K. Energies on the common scale of Vurgaftman et al. (2001), InSb VBM = 0;\n\
         Ec = VBO + Eg(T), Ev = VBO; Eg(T) = Eg0 − αT²/(T+β). Hole masses along [001] from Luttinger parameters.\n"
    );
    let _ = writeln!(s, "Binaries");
    s.push_str(&table_header(t));
    let mut bins: Vec<&Binary> = db.binaries.values().collect();
    bins.sort_by(|a, b| a.name.cmp(&b.name));
    for b in bins {
        let m = Material::from_params(b.name.clone(), None, &b.params);
        s.push_str(&table_row(&m, t));
    }
    let _ = writeln!(
        s,
        "\nAlloys: P(x) = x·P(A) + (1−x)·P(B) − x(1−x)·C, C = bowing (c0 + c1·x where composition dependent).\nExample rows at x = {EXAMPLE_X}."
    );
    let mut als: Vec<&Alloy> = db.alloys.values().collect();
    als.sort_by(|a, b| a.name.cmp(&b.name));
    for al in &als {
        let an = db
            .binaries
            .get(&al.a)
            .map(|b| b.name.as_str())
            .unwrap_or("?");
        let bn = db
            .binaries
            .get(&al.b)
            .map(|b| b.name.as_str())
            .unwrap_or("?");
        let _ = writeln!(
            s,
            "  {:<8} A (x=1) = {:<5} B (x=0) = {:<5} x = {}; bowing [eV or m0]: {}",
            al.name,
            an,
            bn,
            al.x_is.as_deref().unwrap_or("alloy fraction"),
            bowing_summary(al)
        );
    }
    s.push('\n');
    s.push_str(&table_header(t));
    for al in &als {
        match db.resolve(&al.name, Some(EXAMPLE_X)) {
            Ok(m) => s.push_str(&table_row(&m, t)),
            Err(e) => {
                let _ = writeln!(s, "{:<18} ({e})", al.name);
            }
        }
    }
    s
}

pub(super) fn describe_one(
    db: &MaterialDb,
    name: &str,
    x: Option<f64>,
    t: f64,
) -> std::result::Result<String, String> {
    let key = name.trim().to_lowercase();
    let mut s = String::new();
    let (m, example) = if let Some(al) = db.alloys.get(&key) {
        let (xx, example) = match x {
            Some(v) => (v, false),
            None => (EXAMPLE_X, true),
        };
        let m = db.resolve(name, Some(xx))?;
        let an = &db.binaries[&al.a].name;
        let bn = &db.binaries[&al.b].name;
        let _ = writeln!(s, "{} (alloy)", al.name);
        let _ = writeln!(s, "  x: {}", al.x_is.as_deref().unwrap_or("alloy fraction"));
        let _ = writeln!(s, "  endpoints: A (x = 1) = {an}, B (x = 0) = {bn}");
        let _ = writeln!(s, "  rule: P(x) = x·P({an}) + (1−x)·P({bn}) − x(1−x)·C");
        let _ = writeln!(s, "  bowing C: {}", bowing_summary(al));
        if let Some(n) = &al.note {
            let _ = writeln!(s, "  note: {n}");
        }
        let _ = writeln!(
            s,
            "\n{} at x = {}{}:",
            m.name,
            fmt_frac(xx),
            if example {
                " (example; pass x to choose)"
            } else {
                ""
            }
        );
        (m, example)
    } else {
        let m = db.resolve(name, x)?;
        let b = &db.binaries[&key];
        let _ = writeln!(s, "{} (binary)", b.name);
        if let Some((g1, g2)) = b.gamma {
            let _ = writeln!(
                s,
                "  Luttinger parameters: γ1 = {g1}, γ2 = {g2} → mhh = 1/(γ1−2γ2) = {:.4}, mlh = 1/(γ1+2γ2) = {:.4} (used unless mhh/mlh are given explicitly)",
                1.0 / (g1 - 2.0 * g2),
                1.0 / (g1 + 2.0 * g2)
            );
        }
        if let Some(n) = &b.note {
            let _ = writeln!(s, "  note: {n}");
        }
        s.push('\n');
        (m, false)
    };
    let _ = example;
    for (field, unit, what) in PROPERTIES.iter() {
        let v = m.get(field).unwrap_or(f64::NAN);
        let (shown, unit_shown) = if *field == "alpha" {
            (v * 1e3, "meV/K")
        } else {
            (v, *unit)
        };
        let src = db
            .source_of(name, field)
            .unwrap_or_else(|| "(no source given)".into());
        let _ = writeln!(
            s,
            "  {:<6} = {:>10.5} {:<6} {:<46} source: {}",
            field, shown, unit_shown, what, src
        );
    }
    for (field, unit, what) in STRAIN_PROPERTIES.iter() {
        if let Some(v) = m.strain_param(field) {
            let src = db.source_of(name, field).unwrap_or_else(|| "(no source given)".into());
            let _ = writeln!(s, "  {:<7} = {:>10.5} {:<6} {:<46} source: {}", field, v, unit, what, src);
        }
    }
    let _ = writeln!(s, "\nDerived at T = {t} K:");
    let _ = writeln!(s, "  Eg(T) = {:.5} eV   (Eg0 − αT²/(T+β))", m.band_gap(t));
    let _ = writeln!(s, "  Ec(T) = {:.5} eV   (VBO + Eg(T))", m.ec(t));
    let _ = writeln!(s, "  Ev(T) = {:.5} eV   (VBO)", m.ev(t));
    let _ = writeln!(
        s,
        "  band edges seen by carriers (holes: −Ev): electron {:.5}, heavy/light hole {:.5} eV",
        m.band_edge(Carrier::Electron, t),
        m.band_edge(Carrier::HeavyHole, t)
    );
    // Citations used.
    let mut cites: Vec<String> = Vec::new();
    for (field, _, _) in PROPERTIES.iter().chain(STRAIN_PROPERTIES.iter()) {
        if let Some(src) = db.source_of(name, field) {
            if let Some(c) = db.expand_citation(&src) {
                if !cites.contains(&c) {
                    cites.push(c);
                }
            }
        }
    }
    if let Some(al) = db.alloys.get(&key) {
        for k in [&al.a, &al.b] {
            for (field, _, _) in PROPERTIES.iter().chain(STRAIN_PROPERTIES.iter()) {
                if let Some(src) = db.source_of(k, field) {
                    if let Some(c) = db.expand_citation(&src) {
                        if !cites.contains(&c) {
                            cites.push(c);
                        }
                    }
                }
            }
        }
    }
    if !cites.is_empty() {
        let _ = writeln!(s, "\nReferences:");
        for c in cites {
            let _ = writeln!(s, "  {c}");
        }
    }
    Ok(s)
}
