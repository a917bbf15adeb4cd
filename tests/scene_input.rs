//! Scene input errors through the public API: every bad scene is an input error (exit code
//! 2) whose path names the offending field, in JSON-path style.

use qdsim_gpu::error::QdError;
use qdsim_gpu::scene::{load_scene, parse_scene, validate::validate};
use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "name": "lens dot",
        "domain": { "size": [60, 60, 30], "spacing": [1.5, 1.5, 1.0] },
        "temperature": 4.2,
        "background": { "material": "GaAs" },
        "regions": [
            { "name": "wetting layer", "shape": { "type": "layer", "axis": "z", "from": -1, "to": 0 }, "material": "InGaAs", "x": 0.5 },
            { "name": "dot", "shape": { "type": "lens", "base": [0, 0, 0], "radius": 10, "height": 4 }, "material": "InAs" }
        ],
        "potentials": [ { "type": "gaussian", "depth": 0.02, "sigma": 5 } ],
        "solve": { "states": 4, "carrier": "electron" }
    })
}

/// Parse and validate; return (path, reason) of the input error.
fn reject(v: &Value) -> (String, String) {
    reject_text(&v.to_string())
}

fn reject_text(text: &str) -> (String, String) {
    let r = parse_scene(text).and_then(|s| validate(&s));
    let e = r.expect_err("scene should be rejected");
    assert_eq!(e.exit_code(), 2, "{e}");
    match e {
        QdError::Input { path, reason } => (path, reason),
        other => panic!("not an input error: {other}"),
    }
}

fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = valid();
    edit(&mut v);
    v
}

#[test]
fn valid_scene_passes_and_defaults_apply() {
    let s = parse_scene(&valid().to_string()).unwrap();
    validate(&s).unwrap();
    assert_eq!(s.solve.max_iterations, 20_000);
    assert_eq!(s.solve.tolerance, 1e-8);
    assert!(s.output.npy && s.output.vtk && s.output.plots && !s.output.wavefunctions);
    // the smallest scene: domain and background only
    let s = parse_scene(r#"{"domain": {"size": [20], "spacing": 0.5}, "background": {"material": "GaAs"}}"#).unwrap();
    validate(&s).unwrap();
    assert_eq!(s.temperature, 300.0);
    assert_eq!(s.solve.states, 4);
}

#[test]
fn malformed_json() {
    let (p, r) = reject_text(r#"{"domain": {"size": [20], "spacing": 0.5}, "background": "#);
    assert!(r.starts_with("malformed JSON"), "{p}: {r}");
    let (_, r) = reject_text("{\"domain\": {\"size\": [20,], \"spacing\": 1}}");
    assert!(r.starts_with("malformed JSON"), "{r}");
    let (p, r) = reject_text("");
    assert_eq!(p, "(scene)");
    assert!(r.starts_with("malformed JSON"), "{r}");
}

#[test]
fn unknown_fields_are_named() {
    let (p, r) = reject(&edited(|v| v["domian"] = json!(1)));
    assert_eq!(p, "domian");
    assert!(r.contains("unknown field"), "{r}");
    let (p, _) = reject(&edited(|v| v["regions"][1]["shape"]["radious"] = json!(3)));
    assert!(p.starts_with("regions[1].shape"), "{p}");
    let (p, _) = reject(&edited(|v| v["solve"]["state"] = json!(3)));
    assert_eq!(p, "solve.state");
    let (p, _) = reject(&edited(|v| v["background"]["fraction"] = json!(0.3)));
    assert_eq!(p, "background.fraction");
}

#[test]
fn wrong_types_and_missing_fields() {
    let (p, _) = reject(&edited(|v| v["temperature"] = json!("300 K")));
    assert_eq!(p, "temperature");
    let (p, _) = reject(&edited(|v| v["solve"]["states"] = json!(-1)));
    assert_eq!(p, "solve.states");
    let (p, _) = reject(&edited(|v| v["solve"]["states"] = json!(2.5)));
    assert_eq!(p, "solve.states");
    let (p, _) = reject(&edited(|v| v["solve"]["carrier"] = json!("hole")));
    assert_eq!(p, "solve.carrier");
    let (p, _) = reject(&edited(|v| v["regions"][0]["shape"]["axis"] = json!("w")));
    assert!(p.starts_with("regions[0].shape"), "{p}");
    let (p, _) = reject(&edited(|v| v["regions"][1]["shape"]["type"] = json!("torus")));
    assert!(p.starts_with("regions[1].shape"), "{p}");
    let (p, r) = reject(&edited(|v| {
        v["regions"][1].as_object_mut().unwrap().remove("material");
    }));
    assert_eq!(p, "regions[1]");
    assert!(r.contains("material"), "{r}");
    let (p, _) = reject(&edited(|v| {
        v.as_object_mut().unwrap().remove("background");
    }));
    assert_eq!(p, "(scene)");
    let (p, _) = reject(&edited(|v| v["domain"]["periodic"] = json!("yes")));
    assert_eq!(p, "domain.periodic");
}

#[test]
fn domain() {
    assert_eq!(reject(&edited(|v| v["domain"]["size"] = json!([]))).0, "domain.size");
    assert_eq!(reject(&edited(|v| v["domain"]["size"][0] = json!(-60))).0, "domain.size[0]");
    assert_eq!(reject(&edited(|v| v["domain"]["spacing"] = json!([1, 1]))).0, "domain.spacing");
    assert_eq!(reject(&edited(|v| v["domain"]["spacing"][2] = json!(0))).0, "domain.spacing[2]");
    assert_eq!(reject(&edited(|v| v["domain"]["spacing"] = json!(-1))).0, "domain.spacing");
    assert_eq!(reject(&edited(|v| v["domain"]["spacing"] = json!(50))).0, "domain.spacing");
    assert_eq!(reject(&edited(|v| v["domain"]["periodic"] = json!([true, true]))).0, "domain.periodic");
}

#[test]
fn temperature() {
    let (p, r) = reject(&edited(|v| v["temperature"] = json!(-4)));
    assert_eq!(p, "temperature");
    assert!(r.contains("-4 K"), "{r}");
    assert_eq!(reject(&edited(|v| v["temperature"] = json!(0))).0, "temperature");
    assert_eq!(reject(&edited(|v| v["temperature"] = json!(1e5))).0, "temperature");
}

#[test]
fn shapes() {
    let shape = |i: usize, s: Value| edited(move |v| v["regions"][i]["shape"] = s);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "layer", "axis": "z", "from": 1, "to": 1}), "regions[1].shape.to"),
        (json!({"type": "box", "min": [1, 0, 0], "max": [0, 1, 1]}), "regions[1].shape.max[0]"),
        (json!({"type": "box", "min": [0, 0], "max": [1, 1, 1]}), "regions[1].shape.max"),
        (json!({"type": "box", "min": [0, 0, 0, 0], "max": [1, 1, 1, 1]}), "regions[1].shape.min"),
        (json!({"type": "sphere", "center": [0, 0, 0], "radius": 0}), "regions[1].shape.radius"),
        (json!({"type": "sphere", "center": [], "radius": 1}), "regions[1].shape.center"),
        (json!({"type": "cylinder", "center": [0, 0, 0], "radius": 2, "height": -1}), "regions[1].shape.height"),
        (json!({"type": "cylinder", "center": [0, 0, 0], "radius": -2, "height": 1, "axis": "x"}), "regions[1].shape.radius"),
        (json!({"type": "cone", "base": [0, 0, 0], "base_radius": 5, "top_radius": -1, "height": 3}), "regions[1].shape.top_radius"),
        (json!({"type": "cone", "base": [0, 0, 0], "base_radius": 5, "top_radius": 6, "height": 3}), "regions[1].shape.top_radius"),
        (json!({"type": "cone", "base": [0, 0, 0], "base_radius": 5, "height": 0}), "regions[1].shape.height"),
        (json!({"type": "pyramid", "base": [0, 0, 0], "base_width": 0, "height": 3}), "regions[1].shape.base_width"),
        (json!({"type": "pyramid", "base": [0, 0, 0], "base_width": 4, "top_width": 5, "height": 3}), "regions[1].shape.top_width"),
        (json!({"type": "lens", "base": [0, 0, 0], "radius": 4, "height": 5}), "regions[1].shape.height"),
        (json!({"type": "lens", "base": [0, 0, 0], "radius": 4, "height": 0}), "regions[1].shape.height"),
        (json!({"type": "ellipsoid", "center": [0, 0, 0], "semi_axes": [1, 1]}), "regions[1].shape.semi_axes"),
        (json!({"type": "ellipsoid", "center": [0, 0, 0], "semi_axes": [1, -1, 1]}), "regions[1].shape.semi_axes[1]"),
        // entirely outside the domain (x in [-30, 30], z in [-15, 15])
        (json!({"type": "sphere", "center": [40, 0, 0], "radius": 5}), "regions[1].shape"),
        (json!({"type": "box", "min": [-10, -10, 15], "max": [10, 10, 20]}), "regions[1].shape"),
        (json!({"type": "layer", "axis": "z", "from": -40, "to": -20}), "regions[1].shape"),
    ];
    for (s, want) in cases {
        let text = s.to_string();
        let (p, r) = reject(&shape(1, s));
        assert_eq!(p, want, "{text}: {r}");
    }
}

#[test]
fn alloy_fraction() {
    let (p, r) = reject(&edited(|v| v["regions"][0]["x"] = json!(1.2)));
    assert_eq!(p, "regions[0].x");
    assert!(r.contains("[0, 1]") && r.contains("1.2"), "{r}");
    assert_eq!(reject(&edited(|v| v["background"]["x"] = json!(-0.5))).0, "background.x");
    // names are not checked here: an unknown material passes validation
    let s = parse_scene(&edited(|v| v["background"]["material"] = json!("Unobtainium")).to_string()).unwrap();
    validate(&s).unwrap();
}

#[test]
fn solve_settings() {
    assert_eq!(reject(&edited(|v| v["solve"]["states"] = json!(0))).0, "solve.states");
    assert_eq!(reject(&edited(|v| v["solve"]["states"] = json!(100_000))).0, "solve.states");
    assert_eq!(reject(&edited(|v| v["solve"]["tolerance"] = json!(0.5))).0, "solve.tolerance");
    assert_eq!(reject(&edited(|v| v["solve"]["tolerance"] = json!(0))).0, "solve.tolerance");
    assert_eq!(reject(&edited(|v| v["solve"]["max_iterations"] = json!(0))).0, "solve.max_iterations");
}

#[test]
fn potentials() {
    let pot = |p: Value| edited(move |v| v["potentials"] = json!([{"type": "gaussian", "depth": 0.1, "sigma": 3}, p]));
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "harmonic"}), "potentials[1]"),
        (json!({"type": "harmonic", "hbar_omega": 0.01, "spring_constant": 1e-3}), "potentials[1].spring_constant"),
        (json!({"type": "harmonic", "hbar_omega": -0.01}), "potentials[1].hbar_omega"),
        (json!({"type": "harmonic", "hbar_omega": 0.01, "mass": -0.067}), "potentials[1].mass"),
        (json!({"type": "harmonic", "spring_constant": 1e-3, "mass": 0.067}), "potentials[1].mass"),
        (json!({"type": "harmonic", "spring_constant": 0}), "potentials[1].spring_constant"),
        (json!({"type": "harmonic", "hbar_omega": 0.01, "axes": ["y", "y"]}), "potentials[1].axes[1]"),
        (json!({"type": "gaussian", "depth": 0.1, "sigma": 0}), "potentials[1].sigma"),
        (json!({"type": "gaussian", "depth": 0.1, "sigma": [1, 1]}), "potentials[1].sigma"),
        (json!({"type": "gaussian", "depth": 0.1, "sigma": [1, 1, -1]}), "potentials[1].sigma[2]"),
        (json!({"type": "gaussian", "depth": 0.1, "sigma": 1, "center": [0, 0, 0, 0]}), "potentials[1].center"),
        (json!({"type": "square_well", "depth": 0.1, "shape": {"type": "sphere", "center": [0, 0, 0], "radius": -1}}), "potentials[1].shape.radius"),
        (json!({"type": "square_well", "depth": 0.1, "shape": {"type": "sphere", "center": [0, 90, 0], "radius": 1}}), "potentials[1].shape"),
        (json!({"type": "file", "path": ""}), "potentials[1].path"),
    ];
    for (p, want) in cases {
        let text = p.to_string();
        let (got, r) = reject(&pot(p));
        assert_eq!(got, want, "{text}: {r}");
    }
    let (p, r) = reject(&pot(json!({"type": "harmonic", "hbar_omega": -0.01})));
    assert_eq!(p, "potentials[1].hbar_omega");
    assert!(r.contains("eV") && r.contains("-0.01"), "{r}");
}

#[test]
fn load_scene_from_disk() {
    let dir = std::env::temp_dir().join(format!("qdsim-scene-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // missing file
    let missing = dir.join("no-such-scene.json");
    let e = load_scene(&missing).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    match &e {
        QdError::Input { path, reason } => {
            assert!(path.contains("no-such-scene.json"), "{path}");
            assert!(reason.contains("cannot read"), "{reason}");
        }
        other => panic!("not an input error: {other}"),
    }

    // a valid file loads, with its folder as the base for relative paths
    let good = dir.join("good.json");
    std::fs::write(&good, valid().to_string()).unwrap();
    let loaded = load_scene(&good).unwrap();
    assert_eq!(loaded.base_dir, dir);
    assert_eq!(loaded.resolve(std::path::Path::new("v.npy")), dir.join("v.npy"));

    // load_scene validates
    let bad = dir.join("bad.json");
    std::fs::write(&bad, edited(|v| v["regions"][1]["shape"]["radius"] = json!(-10)).to_string()).unwrap();
    let e = load_scene(&bad).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(matches!(&e, QdError::Input { path, .. } if path == "regions[1].shape.radius"), "{e}");

    // and parse errors come through with their path
    std::fs::write(&bad, "{\"domain\": 3}").unwrap();
    let e = load_scene(&bad).unwrap_err();
    assert!(matches!(&e, QdError::Input { path, .. } if path == "domain"), "{e}");

    std::fs::remove_dir_all(&dir).ok();
}
