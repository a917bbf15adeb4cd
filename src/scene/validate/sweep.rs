//! Validation of a sweep: its parameter exists and every value gives a valid scene.

use super::*;

/// The sweep's parameter exists and every value gives a valid scene.
pub(super) fn sweep(scene: &Scene, sw: &crate::scene::Sweep) -> Result<()> {
    let path = JsonPath::parse(&sw.parameter)?;
    if matches!(path.steps.first(), Some(crate::scene::path::Step::Key(k)) if k == "sweep") {
        return Err(err("sweep.parameter", "a sweep cannot vary itself"));
    }
    let count = match &sw.values {
        SweepValues::List(v) => v.len(),
        SweepValues::Range(r) => r.steps,
    };
    if count > crate::scene::MAX_SWEEP_POINTS {
        return Err(crate::scene::too_many("sweep.values", &format!("the sweep of `{}`", sw.parameter), count));
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
        let edited = crate::scene::path::with_value(&json, &path, v.clone())?;
        let check = crate::scene::parse_scene(&edited.to_string()).and_then(|s| validate(&s));
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
