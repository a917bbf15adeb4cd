//! JSON paths into a scene (`regions[1].shape.radius`) and assignments through them: what a
//! sweep varies, and what `--set PATH=VALUES` on the command line will parse.
//!
//! Path grammar: a key, then any number of `.key` or `[index]` steps; a key is
//! `[A-Za-z_][A-Za-z0-9_]*`, an index a non-negative decimal integer. This is the form the
//! scene's error messages use, so a path printed in an error can be pasted back.
//!
//! Assignment rule: every step must exist in the scene, except that the last step may add a
//! key to an object that exists (so a field left at its default, such as `temperature`,
//! can be swept). A misspelt last key is then rejected when the edited scene is parsed
//! ("unknown field"), since every object of the schema denies unknown fields.
//!
//! Values grammar (`--set PATH=VALUES`): a comma-separated list `5,7.5,10`, or a range
//! `from:to:count` (`5:15:11` gives 5, 6, ..., 15, both ends included). Each list item is
//! read as JSON when it parses as JSON (numbers, `true`, `"text"`, `[1, 2]` is not allowed
//! because of the comma) and as a plain string otherwise, so `GaAs,InAs` sweeps material
//! names.

use serde_json::Value;

use crate::error::{QdError, Result};

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A parsed JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    pub steps: Vec<Step>,
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            match s {
                Step::Key(k) if i == 0 => write!(f, "{k}")?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

fn bad_path(text: &str, why: impl std::fmt::Display) -> QdError {
    QdError::input("sweep.parameter", format!("`{text}` is not a valid path ({why}); write it as e.g. regions[1].shape.radius"))
}

impl JsonPath {
    /// Parse `key(.key|[index])*`. Errors are input errors at `sweep.parameter`.
    pub fn parse(text: &str) -> Result<JsonPath> {
        let b = text.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        let key = |i: &mut usize| -> Option<String> {
            let start = *i;
            while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
                *i += 1;
            }
            if *i == start || b[start].is_ascii_digit() {
                None
            } else {
                Some(text[start..*i].to_string())
            }
        };
        match key(&mut i) {
            Some(k) => steps.push(Step::Key(k)),
            None => return Err(bad_path(text, "it must start with a field name")),
        }
        while i < b.len() {
            match b[i] {
                b'.' => {
                    i += 1;
                    match key(&mut i) {
                        Some(k) => steps.push(Step::Key(k)),
                        None => return Err(bad_path(text, format!("a field name must follow the '.' at position {}", i))),
                    }
                }
                b'[' => {
                    i += 1;
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i == start || i >= b.len() || b[i] != b']' {
                        return Err(bad_path(text, format!("'[' at position {} must hold a non-negative integer and close with ']'", start - 1)));
                    }
                    let n: usize = text[start..i].parse().map_err(|_| bad_path(text, "index too large"))?;
                    steps.push(Step::Index(n));
                    i += 1;
                }
                c => return Err(bad_path(text, format!("unexpected '{}' at position {i}", c as char))),
            }
        }
        Ok(JsonPath { steps })
    }

    /// The value at the path, if every step exists.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut v = root;
        for s in &self.steps {
            v = match s {
                Step::Key(k) => v.as_object()?.get(k)?,
                Step::Index(n) => v.as_array()?.get(*n)?,
            };
        }
        Some(v)
    }

    /// Assign `new` at the path (see the module doc for which steps must exist). Errors
    /// are input errors at `sweep.parameter` naming the first step that does not exist.
    pub fn set(&self, root: &mut Value, new: Value) -> Result<()> {
        let full = self.to_string();
        let mut v = root;
        let last = self.steps.len() - 1;
        for (i, s) in self.steps.iter().enumerate() {
            let here = JsonPath { steps: self.steps[..i].to_vec() }.to_string();
            let here = if here.is_empty() { "the scene".to_string() } else { format!("`{here}`") };
            let missing = |what: String| QdError::input("sweep.parameter", format!("`{full}` does not exist in the scene: {what}"));
            match s {
                Step::Key(k) => {
                    let obj = v.as_object_mut().ok_or_else(|| missing(format!("{here} is not an object, it has no field `{k}`")))?;
                    if i == last {
                        obj.insert(k.clone(), new);
                        return Ok(());
                    }
                    v = obj.get_mut(k).ok_or_else(|| missing(format!("{here} has no field `{k}`")))?;
                }
                Step::Index(n) => {
                    let arr = v.as_array_mut().ok_or_else(|| missing(format!("{here} is not an array, it has no element [{n}]")))?;
                    let len = arr.len();
                    let slot = arr.get_mut(*n).ok_or_else(|| missing(format!("{here} has {len} elements, so no [{n}]")))?;
                    if i == last {
                        *slot = new;
                        return Ok(());
                    }
                    v = slot;
                }
            }
        }
        Ok(())
    }
}

/// `count` evenly spaced values from `from` to `to`, both included (`count` ≥ 2; 1 gives
/// `[from]`).
pub fn linspace(from: f64, to: f64, count: usize) -> Vec<f64> {
    match count {
        0 => vec![],
        1 => vec![from],
        _ => (0..count)
            .map(|i| if i + 1 == count { to } else { from + (to - from) * i as f64 / (count - 1) as f64 })
            .collect(),
    }
}

fn bad_values(text: &str, why: impl std::fmt::Display) -> QdError {
    QdError::input("--set", format!("values `{text}`: {why}; write a list 5,7.5,10 or a range from:to:count such as 5:15:11"))
}

/// Parse the values of `--set PATH=VALUES`: `a,b,c` or `from:to:count`.
pub fn parse_values(text: &str) -> Result<Vec<Value>> {
    let t = text.trim();
    if t.is_empty() {
        return Err(bad_values(text, "no values"));
    }
    let parts: Vec<&str> = t.split(':').collect();
    if parts.len() == 3 && !t.contains(',') {
        let num = |s: &str, what: &str| -> Result<f64> {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad_values(text, format!("{what} `{}` is not a finite number", s.trim())))
        };
        let from = num(parts[0], "from")?;
        let to = num(parts[1], "to")?;
        let count: usize = parts[2].trim().parse().map_err(|_| bad_values(text, format!("count `{}` is not a whole number", parts[2].trim())))?;
        if count < 2 {
            return Err(bad_values(text, format!("a range needs a count of at least 2 (from and to), got {count}")));
        }
        if count > crate::pipeline::sweep::MAX_SWEEP_POINTS {
            return Err(crate::pipeline::sweep::too_many("--set", &format!("the range `{}`", text.trim()), count));
        }
        return Ok(linspace(from, to, count).into_iter().map(Value::from).collect());
    }
    if parts.len() > 1 && !t.contains(',') {
        return Err(bad_values(text, "a range has exactly three parts from:to:count"));
    }
    let items = t.matches(',').count() + 1;
    if items > crate::pipeline::sweep::MAX_SWEEP_POINTS {
        return Err(crate::pipeline::sweep::too_many("--set", "the list of values", items));
    }
    t.split(',')
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            if item.is_empty() {
                return Err(bad_values(text, format!("item {} is empty", i + 1)));
            }
            Ok(serde_json::from_str::<Value>(item).unwrap_or_else(|_| Value::String(item.to_string())))
        })
        .collect()
}

/// Parse `PATH=VALUES` (the argument of `--set`).
pub fn parse_assignment(text: &str) -> Result<(JsonPath, Vec<Value>)> {
    let (p, v) = text
        .split_once('=')
        .ok_or_else(|| QdError::input("--set", format!("`{text}` must have the form PATH=VALUES, e.g. regions[1].shape.radius=5:15:11")))?;
    let path = JsonPath::parse(p.trim()).map_err(|e| match e {
        QdError::Input { reason, .. } => QdError::input("--set", reason),
        other => other,
    })?;
    Ok((path, parse_values(v)?))
}

/// A copy of `scene` (JSON) with `value` assigned at `path`.
pub fn with_value(scene: &Value, path: &JsonPath, value: Value) -> Result<Value> {
    let mut v = scene.clone();
    path.set(&mut v, value)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reason(e: QdError) -> String {
        match e {
            QdError::Input { reason, .. } => reason,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn parse_and_print() {
        let p = JsonPath::parse("regions[1].shape.radius").unwrap();
        assert_eq!(
            p.steps,
            vec![Step::Key("regions".into()), Step::Index(1), Step::Key("shape".into()), Step::Key("radius".into())]
        );
        assert_eq!(p.to_string(), "regions[1].shape.radius");
        assert_eq!(JsonPath::parse("temperature").unwrap().to_string(), "temperature");
        assert_eq!(JsonPath::parse("domain.size[0]").unwrap().to_string(), "domain.size[0]");
        assert_eq!(JsonPath::parse("a[0][12]").unwrap().steps.len(), 3);
        for bad in ["", ".a", "a.", "a..b", "a[", "a[]", "a[-1]", "a[1", "a[x]", "1a", "a b", "a.1b", "a]"] {
            let e = JsonPath::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(reason(e).contains("not a valid path"), "{bad}");
        }
    }

    #[test]
    fn get_and_set() {
        let mut v = json!({"regions": [{"shape": {"radius": 3}}, {"shape": {"radius": 4}}], "solve": {}});
        let p = JsonPath::parse("regions[1].shape.radius").unwrap();
        assert_eq!(p.get(&v), Some(&json!(4)));
        p.set(&mut v, json!(7.5)).unwrap();
        assert_eq!(v["regions"][1]["shape"]["radius"], json!(7.5));
        assert_eq!(v["regions"][0]["shape"]["radius"], json!(3));
        // the last key may be new
        JsonPath::parse("solve.states").unwrap().set(&mut v, json!(8)).unwrap();
        assert_eq!(v["solve"]["states"], json!(8));
        JsonPath::parse("temperature").unwrap().set(&mut v, json!(77)).unwrap();
        assert_eq!(v["temperature"], json!(77));
        // a whole element may be replaced
        JsonPath::parse("regions[0]").unwrap().set(&mut v, json!({"x": 1})).unwrap();
        assert_eq!(v["regions"][0], json!({"x": 1}));
    }

    #[test]
    fn set_errors_name_the_missing_step() {
        let v = json!({"regions": [{"shape": {"radius": 3}}], "solve": {"states": 4}});
        let cases = [
            ("regions[3].shape.radius", "has 1 elements, so no [3]"),
            ("region[0].shape", "the scene has no field `region`"),
            ("regions[0].shap.radius", "`regions[0]` has no field `shap`"),
            ("solve.states.x", "`solve.states` is not an object"),
            ("solve[0]", "`solve` is not an array"),
        ];
        for (p, want) in cases {
            let mut w = v.clone();
            let e = JsonPath::parse(p).unwrap().set(&mut w, json!(1)).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let r = reason(e);
            assert!(r.contains(want) && r.contains(p), "{p}: {r}");
            assert_eq!(w, v, "a failed assignment leaves the scene unchanged");
        }
    }

    #[test]
    fn values_grammar() {
        assert_eq!(parse_values("5,7.5,10").unwrap(), vec![json!(5), json!(7.5), json!(10)]);
        assert_eq!(parse_values(" 5 ").unwrap(), vec![json!(5)]);
        assert_eq!(parse_values("GaAs,InAs").unwrap(), vec![json!("GaAs"), json!("InAs")]);
        assert_eq!(parse_values("true,\"x\"").unwrap(), vec![json!(true), json!("x")]);
        let r = parse_values("5:15:11").unwrap();
        assert_eq!(r.len(), 11);
        assert_eq!(r[0], json!(5.0));
        assert_eq!(r[10], json!(15.0));
        assert!((r[3].as_f64().unwrap() - 8.0).abs() < 1e-12);
        let r = parse_values("1:0:3").unwrap();
        assert_eq!(r, vec![json!(1.0), json!(0.5), json!(0.0)]);
        for bad in ["", "1,,2", "5:15", "5:15:1", "5:15:x", "a:15:3", "1:2:3:4", "5:inf:3"] {
            let e = parse_values(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn assignment() {
        let (p, v) = parse_assignment("regions[1].shape.radius=5:15:11").unwrap();
        assert_eq!(p.to_string(), "regions[1].shape.radius");
        assert_eq!(v.len(), 11);
        assert!(parse_assignment("regions[1].shape.radius").is_err());
        let e = parse_assignment("regions[x]=1").unwrap_err();
        assert!(matches!(e, QdError::Input { ref path, .. } if path == "--set"));
        let base = json!({"temperature": 300});
        let out = with_value(&base, &JsonPath::parse("temperature").unwrap(), json!(4.2)).unwrap();
        assert_eq!(out["temperature"], json!(4.2));
        assert_eq!(base["temperature"], json!(300));
    }

    #[test]
    fn linspace_ends() {
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(linspace(2.0, 3.0, 1), vec![2.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
        let v = linspace(0.1, 0.7, 7);
        assert_eq!(*v.last().unwrap(), 0.7);
    }
}
