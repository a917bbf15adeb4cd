//! Parsing of one material entry of a database file (a binary or an alloy) from its
//! JSON object, with the checks that name the file and field of every error, and the
//! overlay of a user file's entry on an existing one.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::database::{Alloy, Binary, Bowing};
use super::*;
use crate::error::{QdError, Result};

/// Overlay `patch` on `base`: top-level fields replace, `bowing` and `source` objects merge
/// key by key. Numeric fields the patch sets get `origin` as their source unless the patch
/// names a source itself.
pub(super) fn overlay(base: &mut Map<String, Value>, patch: &Map<String, Value>, origin: &str) {
    for (k, v) in patch {
        match (k.as_str(), base.get_mut(k), v) {
            ("bowing" | "source", Some(Value::Object(b)), Value::Object(p)) => {
                for (k2, v2) in p {
                    b.insert(k2.clone(), v2.clone());
                }
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    if origin == "database.json" || patch.contains_key("source") {
        return;
    }
    let tag = format!("materials file {origin}");
    let mut src = match base.remove("source") {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) => {
            let mut m = Map::new();
            m.insert("*".into(), Value::String(s));
            m
        }
        _ => Map::new(),
    };
    if src.is_empty() {
        src.insert("*".into(), Value::String(tag.clone()));
    }
    for k in patch.keys() {
        if super::strain::any_index(k).is_some() || k == "gamma1" || k == "gamma2" {
            src.insert(k.clone(), Value::String(tag.clone()));
        }
        if k == "gamma1" || k == "gamma2" {
            src.insert("mhh".into(), Value::String(tag.clone()));
            src.insert("mlh".into(), Value::String(tag.clone()));
        }
        if k == "bowing" {
            if let Some(Value::Object(p)) = patch.get("bowing") {
                for k2 in p.keys() {
                    src.insert(k2.clone(), Value::String(tag.clone()));
                }
            }
        }
    }
    base.insert("source".into(), Value::Object(src));
}

pub(super) fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("material name must not be empty".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(format!(
            "material name '{name}' may contain only ASCII letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

pub(super) fn num(raw: &Map<String, Value>, field: &str, at: &dyn Fn(&str) -> String) -> Result<Option<f64>> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if !v.is_finite() {
                return Err(QdError::input(at(field), "must be a finite number"));
            }
            Ok(Some(v))
        }
        Some(other) => Err(QdError::input(
            at(field),
            format!("must be a number, got {other}"),
        )),
    }
}

pub(super) fn opt_str(
    raw: &Map<String, Value>,
    field: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<String>> {
    match raw.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(QdError::input(at(field), "must be a string")),
    }
}

pub(super) fn parse_source(
    raw: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match raw.get("source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            out.insert("*".to_string(), s.clone());
        }
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if k != "*" && super::strain::any_index(k).is_none() && k != "gamma1" && k != "gamma2" {
                    return Err(QdError::input(
                        at(&format!("source.{k}")),
                        "source keys are property names or \"*\" (default)",
                    ));
                }
                let s = v.as_str().ok_or_else(|| {
                    QdError::input(at(&format!("source.{k}")), "must be a string")
                })?;
                out.insert(k.clone(), s.to_string());
            }
        }
        Some(_) => {
            return Err(QdError::input(
                at("source"),
                "must be a string or an object {property: source}",
            ))
        }
    }
    Ok(out)
}


pub(super) fn parse_binary(name: &str, raw: &Map<String, Value>, origin: &str) -> Result<Binary> {
    let at = |f: &str| format!("{origin}:{name}.{f}");
    let g1 = num(raw, "gamma1", &at)?;
    let g2 = num(raw, "gamma2", &at)?;
    let _g3 = num(raw, "gamma3", &at)?;
    let gamma = match (g1, g2) {
        (Some(a), Some(b)) => {
            if a <= 0.0 {
                return Err(QdError::input(
                    at("gamma1"),
                    format!("must be > 0 (got {})", crate::error::fmt_num(a)),
                ));
            }
            if a - 2.0 * b <= 0.0 {
                return Err(QdError::input(
                    at("gamma2"),
                    format!(
                        "gamma1 − 2·gamma2 = {} must be > 0 for a positive heavy-hole mass",
                        a - 2.0 * b
                    ),
                ));
            }
            if a + 2.0 * b <= 0.0 {
                return Err(QdError::input(
                    at("gamma2"),
                    "gamma1 + 2·gamma2 must be > 0 for a positive light-hole mass",
                ));
            }
            Some((a, b))
        }
        (Some(_), None) => return Err(QdError::input(at("gamma2"), "gamma1 given without gamma2")),
        (None, Some(_)) => return Err(QdError::input(at("gamma1"), "gamma2 given without gamma1")),
        (None, None) => None,
    };
    let mut v = [0.0; N_PROPS];
    for (i, (field, unit, what)) in PROPERTIES.iter().enumerate() {
        let val = num(raw, field, &at)?;
        v[i] = match (val, *field, gamma) {
            (Some(x), _, _) => x,
            (None, "mhh", Some((a, b))) => 1.0 / (a - 2.0 * b),
            (None, "mlh", Some((a, b))) => 1.0 / (a + 2.0 * b),
            (None, "mhh" | "mlh", None) => {
                return Err(QdError::input(
                    at(field),
                    format!("missing {what} ({unit}); give \"{field}\" or the Luttinger parameters \"gamma1\" and \"gamma2\""),
                ))
            }
            (None, _, _) => {
                return Err(QdError::input(at(field), format!("missing required field: {what} ({unit})")))
            }
        };
    }
    let params = Params(v);
    if let Err((field, reason)) = check_params(&params) {
        return Err(QdError::input(
            at(field),
            format!("{reason}, got {}", crate::error::fmt_num(v[prop_index(field).unwrap()])),
        ));
    }
    let mut strain = super::strain::StrainParams::default();
    for (j, (field, _, _)) in super::strain::STRAIN_PROPERTIES.iter().enumerate() {
        if let Some(val) = num(raw, field, &at)? {
            super::strain::check_strain_value(j, val).map_err(|r| QdError::input(at(field), format!("{r}, got {}", crate::error::fmt_num(val))))?;
            strain.0[j] = Some(val);
        }
    }
    Ok(Binary {
        name: name.to_string(),
        params,
        strain,
        gamma,
        note: opt_str(raw, "note", &at)?,
        source: parse_source(raw, &at)?,
        raw: raw.clone(),
    })
}

pub(super) fn parse_alloy(
    name: &str,
    raw: &Map<String, Value>,
    origin: &str,
    binaries: &BTreeMap<String, Binary>,
) -> Result<Alloy> {
    let at = |f: &str| format!("{origin}:{name}.{f}");
    let endpoint = |f: &str| -> Result<String> {
        let s = opt_str(raw, f, &at)?.ok_or_else(|| {
            QdError::input(
                at(f),
                format!(
                    "missing required field: the binary at x = {} (a name)",
                    if f == "a" { 1 } else { 0 }
                ),
            )
        })?;
        let k = s.trim().to_lowercase();
        if !binaries.contains_key(&k) {
            let known: Vec<&str> = binaries.values().map(|b| b.name.as_str()).collect();
            return Err(QdError::input(
                at(f),
                format!("unknown binary '{s}' (known: {})", known.join(", ")),
            ));
        }
        Ok(k)
    };
    let a = endpoint("a")?;
    let b = endpoint("b")?;
    if a == b {
        return Err(QdError::input(
            at("b"),
            "the two endpoints of an alloy must differ",
        ));
    }
    let mut bowing = BTreeMap::new();
    match raw.get("bowing") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let i = super::strain::any_index(k).ok_or_else(|| {
                    QdError::input(
                        at(&format!("bowing.{k}")),
                        format!(
                            "unknown property (allowed: {})",
                            PROPERTIES
                                .iter()
                                .chain(super::strain::STRAIN_PROPERTIES.iter())
                                .map(|p| p.0)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                let path = format!("bowing.{k}");
                let bw = match v {
                    Value::Number(n) => Bowing {
                        c0: n.as_f64().unwrap_or(f64::NAN),
                        c1: 0.0,
                    },
                    Value::Object(o) => {
                        for kk in o.keys() {
                            if kk != "c0" && kk != "c1" {
                                return Err(QdError::input(
                                    at(&format!("{path}.{kk}")),
                                    "a composition-dependent bowing is {\"c0\": .., \"c1\": ..} (C = c0 + c1·x)",
                                ));
                            }
                        }
                        let atp = |f: &str| at(&format!("{path}.{f}"));
                        Bowing {
                            c0: num(o, "c0", &atp)?.unwrap_or(0.0),
                            c1: num(o, "c1", &atp)?.unwrap_or(0.0),
                        }
                    }
                    _ => {
                        return Err(QdError::input(
                            at(&path),
                            "must be a number or {\"c0\": .., \"c1\": ..}",
                        ))
                    }
                };
                if !bw.c0.is_finite() || !bw.c1.is_finite() {
                    return Err(QdError::input(at(&path), "must be finite"));
                }
                let bound = bowing_bound(i);
                for (part, c) in [("c0", bw.c0), ("c1", bw.c1)] {
                    if c.abs() > bound {
                        return Err(QdError::input(
                            at(&path),
                            format!(
                                "bowing {part} = {} is beyond ±{}: a bowing that large moves {k} across its whole range {} (x(1−x) ≤ 1/4)",
                                crate::error::fmt_num(c),
                                crate::error::fmt_num(bound),
                                range_text(i)
                            ),
                        ));
                    }
                }
                bowing.insert(i, bw);
            }
        }
        Some(_) => {
            return Err(QdError::input(
                at("bowing"),
                "must be an object {property: bowing}",
            ))
        }
    }
    let display = opt_str(raw, "display", &at)?;
    if let Some(d) = &display {
        if !d.contains("{x}") && !d.contains("{1-x}") {
            return Err(QdError::input(
                at("display"),
                "display template must contain {x} and/or {1-x}, e.g. \"Al{x}Ga{1-x}As\"",
            ));
        }
    }
    Ok(Alloy {
        name: name.to_string(),
        a,
        b,
        x_is: opt_str(raw, "x_is", &at)?,
        display,
        bowing,
        note: opt_str(raw, "note", &at)?,
        source: parse_source(raw, &at)?,
        raw: raw.clone(),
    })
}
