//! Scene input errors through the public API: every bad scene is an input error (exit code
//! 2) whose path names the offending field, in JSON-path style.

use crate::common;

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
    assert!(r.contains("empty"), "{r}");
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

// ---- doping, contacts, gates, Poisson/self-consistent settings, sweeps (issue 4) ----

/// A 3D device scene using every new field.
fn device() -> Value {
    json!({
        "domain": { "size": [60, 60, 30], "spacing": 2.0, "periodic": [true, false, false] },
        "temperature": 77,
        "background": { "material": "GaAs", "doping": { "donors": 1e16 } },
        "regions": [
            { "shape": { "type": "layer", "axis": "z", "from": 5, "to": 10 }, "material": "AlGaAs", "x": 0.3,
              "doping": { "donors": 2e18, "donor_energy": 0.006 } },
            { "shape": { "type": "lens", "base": [0, 0, 0], "radius": 10, "height": 4 }, "material": "InAs",
              "doping": { "acceptors": 1e17, "acceptor_energy": 0.026 } }
        ],
        "contacts": [
            { "face": "z_min", "type": "ohmic", "voltage": 0 },
            { "face": "z_max", "type": "schottky", "voltage": -0.2, "barrier": 0.8, "patch": { "min": [-30, -30], "max": [30, -5] } },
            { "face": "z_max", "type": "ohmic", "patch": { "min": [-30, 5], "max": [30, 30] } }
        ],
        "gates": [ { "name": "plunger", "shape": { "type": "box", "min": [-5, -5, 13], "max": [5, 5, 15] }, "voltage": 0.3, "barrier": 0.7 } ],
        "solve": {
            "mode": "self_consistent",
            "states": 4,
            "poisson": {
                "statistics": "fermi_dirac", "tolerance": 1e-6, "max_iterations": 50,
                "mixing": { "method": "anderson", "beta": 0.3, "history": 6 },
                "quantum_region": { "min": [-20, -20, -8], "max": [20, 20, 8] },
                "holes": false
            }
        },
        "sweep": { "parameter": "gates[0].voltage", "values": { "from": -0.5, "to": 0.5, "steps": 5 } }
    })
}

fn device_edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = device();
    edit(&mut v);
    v
}

#[test]
fn every_shipped_scene_still_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let l = load_scene(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if l.scene.solve.mode != qdsim_gpu::scene::SolveMode::Schrodinger || l.scene.sweep.is_some() {
                continue; // the device and sweep scenes use the new fields
            }
            assert!(l.scene.contacts.is_empty() && l.scene.gates.is_empty() && l.scene.sweep.is_none());
            // the scene serialises without any of the new fields (results.json is unchanged)
            let back = serde_json::to_value(&l.scene).unwrap();
            for k in ["contacts", "gates", "sweep"] {
                assert!(back.get(k).is_none(), "{k}");
            }
            assert!(back["solve"].get("mode").is_none() && back["solve"].get("poisson").is_none());
            n += 1;
        }
    }
    assert!(n >= 7, "found {n} scenes");
}

#[test]
fn device_scene_passes_with_defaults() {
    let s = parse_scene(&device().to_string()).unwrap();
    validate(&s).unwrap();
    let d = s.fill_dopings();
    assert_eq!(d.len(), 3);
    assert_eq!(d[0].donors, 1e16);
    assert_eq!(d[1].donor_energy, Some(0.006));
    assert_eq!(d[2].acceptors, 1e17);
    assert_eq!(s.contacts[2].voltage, 0.0);
    // defaults of the poisson block
    let s = parse_scene(
        &device_edited(|v| v["solve"]["poisson"] = json!({"quantum_region": {"min": [-20, -20, -8], "max": [20, 20, 8]}})).to_string(),
    )
    .unwrap();
    validate(&s).unwrap();
    let p = s.solve.poisson_options();
    assert_eq!(p.statistics, qdsim_gpu::scene::Statistics::FermiDirac);
    assert_eq!(p.tolerance, 1e-6);
    assert_eq!(p.max_iterations, 100);
    assert_eq!(p.mixing.beta, 0.3);
    assert_eq!(p.mixing.history, 6);
    assert!(p.holes);
    // the hyphenated spellings are accepted too
    let s = parse_scene(
        &device_edited(|v| {
            v["solve"]["mode"] = json!("self-consistent");
            v["solve"]["poisson"]["statistics"] = json!("fermi-dirac");
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(s.solve.mode, qdsim_gpu::scene::SolveMode::SelfConsistent);
    // classical poisson mode without a quantum region
    let v = device_edited(|v| {
        v["solve"]["mode"] = json!("poisson");
        v["solve"]["poisson"].as_object_mut().unwrap().remove("quantum_region");
        v["solve"]["poisson"]["statistics"] = json!("boltzmann");
        v["solve"]["poisson"]["holes"] = json!(false);
    });
    validate(&parse_scene(&v.to_string()).unwrap()).unwrap();
}

#[test]
fn doping_rules() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (device_edited(|v| v["background"]["doping"]["donors"] = json!(-1e16)), "background.doping.donors", "≥ 0"),
        (device_edited(|v| v["regions"][0]["doping"]["donors"] = json!(1e23)), "regions[0].doping.donors", "1e22"),
        (device_edited(|v| v["regions"][1]["doping"]["acceptors"] = json!(-5)), "regions[1].doping.acceptors", "cm^-3"),
        (device_edited(|v| v["regions"][0]["doping"]["donor_energy"] = json!(-0.01)), "regions[0].doping.donor_energy", "eV"),
        (device_edited(|v| v["regions"][1]["doping"]["acceptor_energy"] = json!(3)), "regions[1].doping.acceptor_energy", "eV"),
    ];
    for (v, want, word) in cases {
        let (p, r) = reject(&v);
        assert_eq!(p, want, "{r}");
        assert!(r.contains(word), "{p}: {r}");
    }
    let (p, r) = reject(&device_edited(|v| v["regions"][0]["doping"]["donor"] = json!(1e18)));
    assert_eq!(p, "regions[0].doping.donor");
    assert!(r.contains("unknown field"), "{r}");
}

#[test]
fn contact_rules() {
    // unknown face name: a parse error naming the field
    let (p, r) = reject(&device_edited(|v| v["contacts"][0]["face"] = json!("bottom")));
    assert_eq!(p, "contacts[0].face");
    assert!(r.contains("x_min"), "{r}");
    let (p, r) = reject(&device_edited(|v| v["contacts"][0]["type"] = json!("ohmmic")));
    assert_eq!(p, "contacts[0].type");
    assert!(r.contains("schottky"), "{r}");
    let cases: Vec<(Value, &str, &str)> = vec![
        // contact on the periodic x axis
        (device_edited(|v| v["contacts"][0]["face"] = json!("x_min")), "contacts[0].face", "periodic"),
        // two contacts on one face overlapping: whole face vs patch
        (device_edited(|v| v["contacts"][0]["face"] = json!("z_max")), "contacts[1]", "overlaps contacts[0]"),
        // two patches overlapping
        (device_edited(|v| v["contacts"][2]["patch"]["min"][1] = json!(-10)), "contacts[2]", "overlaps contacts[1]"),
        (
            device_edited(|v| {
                v["contacts"][1].as_object_mut().unwrap().remove("barrier");
            }),
            "contacts[1]",
            "barrier",
        ),
        (device_edited(|v| v["contacts"][0]["barrier"] = json!(0.7)), "contacts[0].barrier", "schottky"),
        (device_edited(|v| v["contacts"][1]["patch"]["max"] = json!([30])), "contacts[1].patch.max", "(x, y)"),
        (device_edited(|v| v["contacts"][1]["patch"]["max"][1] = json!(-40)), "contacts[1].patch.max[1]", "greater than min"),
        (device_edited(|v| v["contacts"][1]["patch"] = json!({"min": [40, 0], "max": [50, 5]})), "contacts[1].patch", "outside the face"),
    ];
    for (v, want, word) in cases {
        let text = v["contacts"].to_string();
        let (p, r) = reject(&v);
        assert_eq!(p, want, "{text}: {r}");
        assert!(r.contains(word), "{p}: {r}");
    }
    // patches that only touch along an edge do not overlap
    let v = device_edited(|v| {
        v["contacts"][1]["patch"]["max"][1] = json!(5);
    });
    validate(&parse_scene(&v.to_string()).unwrap()).unwrap();
    // a face the domain does not have
    let (p, r) = reject(&device_edited(|v| {
        v["domain"] = json!({"size": [60, 30], "spacing": 2.0});
        v["regions"] = json!([]);
        v["gates"] = json!([]);
        v["solve"] = json!({});
        v.as_object_mut().unwrap().remove("sweep");
        v["contacts"] = json!([{"face": "z_max", "type": "ohmic"}]);
    }));
    assert_eq!(p, "contacts[0].face");
    assert!(r.contains("2D") && r.contains("y_max"), "{r}");
    // 1D: no patches
    let (p, _) = reject(&json!({
        "domain": {"size": [40], "spacing": 1}, "background": {"material": "GaAs"},
        "contacts": [{"face": "x_min", "type": "ohmic", "patch": {"min": [], "max": []}}]
    }));
    assert_eq!(p, "contacts[0].patch");
}

#[test]
fn gate_rules() {
    let (p, r) = reject(&device_edited(|v| v["gates"][0]["shape"] = json!({"type": "box", "min": [-5, -5, 20], "max": [5, 5, 25]})));
    assert_eq!(p, "gates[0].shape");
    assert!(r.contains("outside"), "{r}");
    assert_eq!(reject(&device_edited(|v| v["gates"][0]["shape"]["max"][0] = json!(-6))).0, "gates[0].shape.max[0]");
    let (p, r) = reject(&device_edited(|v| v["gates"][0]["potential"] = json!(0.3)));
    assert_eq!(p, "gates[0].potential");
    assert!(r.contains("unknown field"), "{r}");
}

#[test]
fn poisson_rules() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (device_edited(|v| v["solve"]["poisson"]["tolerance"] = json!(0)), "solve.poisson.tolerance", "V"),
        (device_edited(|v| v["solve"]["poisson"]["tolerance"] = json!(-1e-6)), "solve.poisson.tolerance", "V"),
        (device_edited(|v| v["solve"]["poisson"]["max_iterations"] = json!(0)), "solve.poisson.max_iterations", "at least 1"),
        (device_edited(|v| v["solve"]["poisson"]["mixing"]["beta"] = json!(0)), "solve.poisson.mixing.beta", "(0, 1]"),
        (device_edited(|v| v["solve"]["poisson"]["mixing"]["beta"] = json!(1.5)), "solve.poisson.mixing.beta", "(0, 1]"),
        (device_edited(|v| v["solve"]["poisson"]["mixing"]["history"] = json!(0)), "solve.poisson.mixing.history", "between"),
        // self-consistent without a quantum region
        (
            device_edited(|v| {
                v["solve"]["poisson"].as_object_mut().unwrap().remove("quantum_region");
            }),
            "solve.poisson.quantum_region",
            "required",
        ),
        (
            device_edited(|v| {
                v["solve"].as_object_mut().unwrap().remove("poisson");
            }),
            "solve.poisson",
            "quantum_region",
        ),
        // quantum region outside (or partly outside) the domain
        (device_edited(|v| v["solve"]["poisson"]["quantum_region"]["max"][2] = json!(20)), "solve.poisson.quantum_region", "inside the domain"),
        (
            device_edited(|v| v["solve"]["poisson"]["quantum_region"] = json!({"min": [40, 40, 0], "max": [50, 50, 5]})),
            "solve.poisson.quantum_region",
            "inside the domain",
        ),
        (device_edited(|v| v["solve"]["poisson"]["quantum_region"]["max"] = json!([20, 20])), "solve.poisson.quantum_region.max", "per axis"),
        (device_edited(|v| v["solve"]["poisson"]["quantum_region"]["min"][0] = json!(30)), "solve.poisson.quantum_region.max[0]", "greater"),
        // too thin for a quantum problem: 1 cell centre along z
        (
            device_edited(|v| v["solve"]["poisson"]["quantum_region"] = json!({"min": [-20, -20, -1.5], "max": [20, 20, 1.5]})),
            "solve.poisson.quantum_region",
            "at least 3",
        ),
        // quantum region in the classical mode, the block in Schrödinger mode
        (device_edited(|v| v["solve"]["mode"] = json!("poisson")), "solve.poisson.quantum_region", "self_consistent"),
        (device_edited(|v| v["solve"]["mode"] = json!("schrodinger")), "solve.poisson", "mode"),
        (device_edited(|v| v["solve"]["carrier"] = json!("heavy_hole")), "solve.carrier", "electron"),
    ];
    for (v, want, word) in cases {
        let (p, r) = reject(&v);
        assert_eq!(p, want, "{r}");
        assert!(r.contains(word), "{p}: {r}");
    }
    let (p, r) = reject(&device_edited(|v| v["solve"]["mode"] = json!("drift_diffusion")));
    assert_eq!(p, "solve.mode");
    assert!(r.contains("self_consistent"), "{r}");
    let (p, _) = reject(&device_edited(|v| v["solve"]["poisson"]["statistics"] = json!("maxwell")));
    assert_eq!(p, "solve.poisson.statistics");
    let (p, _) = reject(&device_edited(|v| v["solve"]["poisson"]["mixing"]["method"] = json!("broyden")));
    assert_eq!(p, "solve.poisson.mixing.method");
}

#[test]
fn sweep_rules() {
    // a list of values, a field left at its default, a material name
    for sw in [
        json!({"parameter": "regions[1].shape.radius", "values": [6, 8, 10]}),
        json!({"parameter": "solve.states", "values": [2, 6]}),
        json!({"parameter": "regions[0].material", "values": ["GaAs", "AlAs"]}),
        json!({"parameter": "regions[0].doping.donors", "values": {"from": 1e17, "to": 1e18, "steps": 4}}),
    ] {
        let v = device_edited(|v| v["sweep"] = sw.clone());
        validate(&parse_scene(&v.to_string()).unwrap()).unwrap_or_else(|e| panic!("{sw}: {e}"));
    }
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"parameter": "regions[5].shape.radius", "values": [1]}), "sweep.parameter", "has 2 elements"),
        (json!({"parameter": "regions[1].shap.radius", "values": [1]}), "sweep.parameter", "no field `shap`"),
        (json!({"parameter": "regions[1]..radius", "values": [1]}), "sweep.parameter", "not a valid path"),
        (json!({"parameter": "sweep.values", "values": [1]}), "sweep.parameter", "itself"),
        (json!({"parameter": "temperature", "values": []}), "sweep.values", "empty"),
        (json!({"parameter": "temperature", "values": {"from": 4, "to": 300, "steps": 1}}), "sweep.values.steps", "at least 2"),
        // a value that makes the scene invalid: named with the inner error
        (json!({"parameter": "regions[1].shape.radius", "values": [6, -1]}), "sweep.values[1]", "regions[1].shape.radius"),
        (json!({"parameter": "temperature", "values": {"from": 100, "to": 3000, "steps": 3}}), "sweep.values", "temperature"),
        // a misspelt last key is caught by the parser
        (json!({"parameter": "solve.statez", "values": [2]}), "sweep.values[0]", "unknown field"),
    ];
    for (sw, want, word) in cases {
        let text = sw.to_string();
        let (p, r) = reject(&device_edited(|v| v["sweep"] = sw));
        assert_eq!(p, want, "{text}: {r}");
        assert!(r.contains(word), "{text}: {p}: {r}");
    }
    let (p, _) = reject(&device_edited(|v| v["sweep"] = json!({"parameter": "temperature", "values": {"from": 4, "to": 300}})));
    assert_eq!(p, "sweep.values");
}

#[test]
fn prepare_builds_the_schrodinger_problem_only() {
    // device scenes go through pipeline::device; prepare() refuses them rather than
    // solving the Schrödinger problem alone
    let s = parse_scene(&device().to_string()).unwrap();
    let loaded = qdsim_gpu::scene::LoadedScene { scene: s, path: "d.json".into(), base_dir: ".".into() };
    assert!(qdsim_gpu::pipeline::prepare(&loaded, 4).is_err());
}

// ---- issue 11: bounded reads, strict JSON, exit 2 for every bad input, physical ranges ----

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Run the binary with `args`, killed (and the test failed) after `secs`: a read of
/// /dev/zero or a FIFO that never ends fails here instead of hanging. Returns the exit code
/// and stdout + stderr.
fn run_bounded(args: &[&str], secs: u64) -> (Option<i32>, String) {
    let mut child = common::bin().args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run qdsim-gpu");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(secs) {
            child.kill().ok();
            let _ = child.wait();
            panic!("qdsim-gpu {args:?} ran more than {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    (o.status.code(), common::text(&o))
}

/// The first line of the message.
fn first_line(t: &str) -> &str {
    t.lines().next().unwrap_or("")
}

/// `solve scene --out DIR/out`: exit 2, the first line names `field` (and `word`), no panic,
/// no output folder, within 30 s. Returns the first line.
fn solve_refused(scene: &Path, field: &str, word: &str) -> String {
    let out = scene.parent().unwrap().join("out");
    let (code, t) = run_bounded(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"], 30);
    let first = first_line(&t).to_string();
    assert_eq!(code, Some(2), "{}: {t}", scene.display());
    assert!(first.starts_with("error: invalid input at `") && first.contains(&format!("`{field}`")), "not naming `{field}`: {t}");
    assert!(first.contains(word), "`{word}` missing: {t}");
    assert!(!t.contains("panicked"), "{t}");
    assert!(!out.exists(), "output folder written: {t}");
    first
}

/// A small 1D Schrödinger scene with extra fields, written to `dir/scene.json`.
fn small_scene(dir: &Path, extra: Value) -> PathBuf {
    let mut v = json!({ "domain": { "size": [20], "spacing": 1 }, "background": { "material": "GaAs" },
                        "solve": { "states": 1, "backend": "cpu" }, "output": { "plots": false, "vtk": false } });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    let p = dir.join("scene.json");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}


fn npy(shape: &str, values: usize) -> Vec<u8> {
    let mut b = common::npy_header(shape);
    for i in 0..values {
        b.extend_from_slice(&(i as f64 * 1e-3).to_le_bytes());
    }
    b
}

#[test]
fn special_and_oversized_materials_files_are_refused_before_reading() {
    let d = common::tmpdir("input", "materials-files");
    std::fs::create_dir_all(d.join("folder")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.json")).unwrap();
    // larger than 16 MiB (sparse: nothing is written)
    std::fs::File::create(d.join("big.json")).unwrap().set_len(qdsim_gpu::scene::files::MAX_MATERIALS_BYTES + 1).unwrap();
    let mut cases: Vec<(&str, &str)> = vec![
        ("folder", "folder"),
        ("/dev/zero", "character device"),
        ("/dev/urandom", "character device"),
        ("/dev/null", "character device"),
        ("zero.json", "character device"),
        ("missing.json", "does not exist"),
        ("big.json", "more than the 16.0 MiB"),
    ];
    if common::mkfifo(&d.join("pipe.json")) {
        cases.push(("pipe.json", "named pipe"));
    }
    for (file, word) in cases {
        let scene = small_scene(&d, json!({ "materials_file": file }));
        solve_refused(&scene, "materials_file", word);
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn potential_files_must_be_exactly_a_npy_of_the_grid() {
    let d = common::tmpdir("input", "npy-files");
    std::fs::create_dir_all(d.join("folder")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.npy")).unwrap();
    std::fs::write(d.join("empty.npy"), b"").unwrap();
    std::fs::write(d.join("text.npy"), b"0 1 2 3").unwrap();
    std::fs::write(d.join("truncated.npy"), npy("(20,)", 10)).unwrap();
    std::fs::write(d.join("long.npy"), npy("(20,)", 30)).unwrap();
    std::fs::write(d.join("shape.npy"), npy("(21,)", 21)).unwrap();
    std::fs::write(d.join("2d.npy"), npy("(20, 1)", 20)).unwrap();
    std::fs::write(d.join("short-header.npy"), &npy("(20,)", 20)[..30]).unwrap();
    // a header that declares 2 GiB (format 2): refused without reading it
    let mut huge = b"\x93NUMPY\x02\x00".to_vec();
    huge.extend_from_slice(&(1u32 << 31).to_le_bytes());
    huge.extend_from_slice(b"{'descr': '<f8'");
    std::fs::write(d.join("huge-header.npy"), huge).unwrap();
    // a header that declares 2^60 cells, with 20 values after it
    std::fs::write(d.join("huge-shape.npy"), npy("(1152921504606846976,)", 20)).unwrap();
    let mut cases: Vec<(&str, &str)> = vec![
        ("folder", "folder"),
        ("/dev/zero", "character device"),
        ("zero.npy", "character device"),
        ("missing.npy", "does not exist"),
        ("empty.npy", "empty"),
        ("text.npy", "not a .npy file"),
        ("truncated.npy", "size mismatch"),
        ("long.npy", "size mismatch"),
        ("shape.npy", "[21]"),
        ("2d.npy", "[20, 1]"),
        ("short-header.npy", "truncated"),
        ("huge-header.npy", "more than"),
        ("huge-shape.npy", "grid has [20]"),
    ];
    if common::mkfifo(&d.join("pipe.npy")) {
        cases.push(("pipe.npy", "named pipe"));
    }
    for (file, word) in cases {
        let scene = small_scene(&d, json!({ "potentials": [ { "type": "file", "path": file } ] }));
        solve_refused(&scene, "potentials[0].path", word);
    }
    // the right file is read: exit 0
    std::fs::write(d.join("good.npy"), npy("(20,)", 20)).unwrap();
    let scene = small_scene(&d, json!({ "potentials": [ { "type": "file", "path": "good.npy" } ] }));
    let out = d.join("out");
    let (code, t) = run_bounded(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"], 60);
    assert_eq!(code, Some(0), "{t}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn special_scene_files_are_refused() {
    let d = common::tmpdir("input", "scene-files");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/zero", d.join("zero.json")).unwrap();
    std::fs::File::create(d.join("big.json")).unwrap().set_len(qdsim_gpu::scene::files::MAX_SCENE_BYTES + 1).unwrap();
    let mut cases = vec![d.join("zero.json"), PathBuf::from("/dev/urandom"), d.clone(), d.join("big.json")];
    if common::mkfifo(&d.join("pipe.json")) {
        cases.push(d.join("pipe.json"));
    }
    for scene in cases {
        let (code, t) = run_bounded(&["solve", scene.to_str().unwrap(), "--quiet"], 30);
        assert_eq!(code, Some(2), "{}: {t}", scene.display());
        assert!(first_line(&t).contains(&format!("`{}`", scene.display())) && t.contains("cannot read scene file"), "{t}");
        assert!(!t.contains("panicked"), "{t}");
    }
    // a file that is not UTF-8
    std::fs::write(d.join("latin1.json"), b"{\"name\": \"\xe9\"}").unwrap();
    let (code, t) = run_bounded(&["solve", d.join("latin1.json").to_str().unwrap(), "--quiet"], 30);
    assert_eq!(code, Some(2), "{t}");
    assert!(t.contains("not UTF-8"), "{t}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn strict_json_top_level_and_trailing_input() {
    let good = valid().to_string();
    let cases: Vec<(String, &str)> = vec![
        (format!("{good} xyz"), "unexpected text after the end of the scene"),
        (format!("{good}}}}}"), "unexpected text after the end of the scene"),
        (format!("{good}\0\0"), "unexpected text after the end of the scene"),
        (format!("{good}\n{good}"), "unexpected text after the end of the scene"),
        (format!("\u{feff}{good}"), "byte-order mark (BOM): save it as UTF-8 without BOM"),
        (format!("[{good}, 1]"), "the scene must be a JSON object { ... }, found an array"),
        ("\"scene\"".to_string(), "found a string"),
        ("42".to_string(), "found a number"),
        ("null".to_string(), "found null"),
        ("true".to_string(), "found a boolean"),
        (String::new(), "the file is empty"),
        ("  \n\t ".to_string(), "only white space"),
    ];
    for (text, word) in &cases {
        let (p, r) = reject_text(text);
        assert_eq!(p, "(scene)", "{text:?}: {r}");
        assert!(r.contains(word), "{text:?}: {r}");
    }
    // white space after the scene is fine
    parse_scene(&format!("{good}\n\n  ")).unwrap();
    // through the binary: exit 2, the first line says it, no output
    let d = common::tmpdir("input", "strict-json");
    for (i, (text, word)) in cases.iter().enumerate().take(6) {
        let scene = d.join(format!("s{i}.json"));
        std::fs::write(&scene, text).unwrap();
        let out = d.join("out");
        let (code, t) = run_bounded(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"], 30);
        assert_eq!(code, Some(2), "{t}");
        assert!(first_line(&t).contains("(scene)") && first_line(&t).contains(word), "{t}");
        assert!(!out.exists());
    }
    // a materials file with trailing text or a BOM
    for (i, (text, word)) in [("{\"binaries\": {}} xyz", "unexpected text"), ("\u{feff}{}", "BOM"), ("[]", "found an array")].iter().enumerate() {
        let m = d.join(format!("m{i}.json"));
        std::fs::write(&m, text).unwrap();
        let scene = small_scene(&d, json!({ "materials_file": format!("m{i}.json") }));
        solve_refused(&scene, &format!("m{i}.json"), word);
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn materials_command_file_errors_exit_2() {
    // `materials --file /tmp` exited 1 (an I/O error): it is bad input naming the file
    let tmp = std::env::temp_dir();
    let (code, t) = run_bounded(&["materials", "--file", tmp.to_str().unwrap()], 30);
    assert_eq!(code, Some(2), "{t}");
    assert!(first_line(&t).contains(&format!("`{}`", tmp.display())) && first_line(&t).contains("folder"), "{t}");
    for f in ["/dev/zero", "/dev/urandom", "/nonexistent/m.json"] {
        let (code, t) = run_bounded(&["materials", "--file", f], 30);
        assert_eq!(code, Some(2), "{f}: {t}");
        assert!(first_line(&t).contains(f) && !t.contains("panicked"), "{t}");
    }
    // out-of-range parameter and temperature
    let d = common::tmpdir("input", "materials-cmd");
    std::fs::write(d.join("m.json"), r#"{"binaries": {"GaAs": {"eps_r": 1e300}}}"#).unwrap();
    let (code, t) = run_bounded(&["materials", "--file", d.join("m.json").to_str().unwrap()], 30);
    assert_eq!(code, Some(2), "{t}");
    assert!(first_line(&t).contains("m.json:GaAs.eps_r") && first_line(&t).contains("1e300"), "{t}");
    assert!(first_line(&t).len() < 200, "{t}");
    let (code, t) = run_bounded(&["materials", "GaAs", "--temperature", "1e300"], 30);
    assert_eq!(code, Some(2), "{t}");
    assert!(first_line(&t).contains("1e300"), "{t}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn unphysical_material_parameters_exit_2_not_nan_converged() {
    // me = 1e-300 gave NaN energies, status converged, exit 0
    let d = common::tmpdir("input", "material-ranges");
    for (json, field, word) in [
        (r#"{"binaries": {"GaAs": {"me": 1e-300}}}"#, "m.json:GaAs.me", "1e-300"),
        (r#"{"binaries": {"GaAs": {"eps_r": 0.1}}}"#, "m.json:GaAs.eps_r", "[1, 100]"),
        (r#"{"binaries": {"GaAs": {"alpha": 5}}}"#, "m.json:GaAs.alpha", "eV/K"),
        (r#"{"binaries": {"GaAs": {"vbo": -1e300}}}"#, "m.json:GaAs.vbo", "-1e300"),
        (r#"{"alloys": {"AlGaAs": {"bowing": {"eg0": -1e9}}}}"#, "m.json:AlGaAs.bowing.eg0", "c0 = -1e9 is beyond ±40"),
    ] {
        std::fs::write(d.join("m.json"), json).unwrap();
        let scene = small_scene(&d, json!({ "materials_file": "m.json" }));
        solve_refused(&scene, field, word);
    }
    // an alloy fine at x = 0, 0.5, 1 but not at the x asked for: named at the fill's x
    std::fs::write(d.join("m.json"), r#"{"alloys": {"AlGaAs": {"bowing": {"me": {"c0": -4, "c1": 8}}}}}"#).unwrap();
    let scene = small_scene(&d, json!({ "materials_file": "m.json", "background": { "material": "AlGaAs", "x": 0.9 } }));
    solve_refused(&scene, "background.x", "x = 0.9 gives me");
    std::fs::remove_dir_all(&d).ok();
}

/// A 1D pn diode in mode poisson.
fn diode(d: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v = json!({
        "domain": { "size": [200], "spacing": 2 },
        "temperature": 300,
        "background": { "material": "GaAs", "doping": { "acceptors": 1e17 } },
        "regions": [ { "shape": { "type": "layer", "axis": "x", "from": 0, "to": 100 }, "material": "GaAs", "doping": { "donors": 1e17 } } ],
        "contacts": [ { "face": "x_min", "type": "ohmic" }, { "face": "x_max", "type": "ohmic", "voltage": -0.5 } ],
        "solve": { "mode": "poisson", "backend": "cpu" },
        "output": { "plots": false, "vtk": false }
    });
    edit(&mut v);
    let p = d.join("scene.json");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

#[test]
fn device_temperature_voltage_and_doping_bounds_exit_2() {
    let d = common::tmpdir("input", "device-bounds");
    // T = 1e-300 K was accepted and failed inside neutral_potential with exit 1
    for t in [json!(1e-300), json!(0.2)] {
        let s = diode(&d, |v| v["temperature"] = t.clone());
        solve_refused(&s, "temperature", "at least 1 K");
    }
    // a narrow-gap material whose Varshni gap closes at the scene's temperature
    let s = small_scene(&d, json!({ "temperature": 1000, "background": { "material": "InSb" } }));
    solve_refused(&s, "temperature", "InSb has no band gap at 1000 K");
    // a contact voltage of 1e300 V exited 3 with nothing written and a 300-digit number
    let s = diode(&d, |v| v["contacts"][1]["voltage"] = json!(1e300));
    let first = solve_refused(&s, "contacts[1].voltage", "1e300 V");
    assert!(first.len() < 250 && !first.contains("000000000"), "{first}");
    let s = diode(&d, |v| v["contacts"][0]["voltage"] = json!(-150));
    solve_refused(&s, "contacts[0].voltage", "±100 V");
    let s = diode(&d, |v| v["regions"][0]["doping"]["donors"] = json!(1e3));
    solve_refused(&s, "regions[0].doping.donors", "below 1e10 cm^-3");
    let s = diode(&d, |v| v["background"]["doping"]["acceptors"] = json!(1e300));
    let first = solve_refused(&s, "background.doping.acceptors", "1e300 cm^-3");
    assert!(first.len() < 250, "{first}");
    std::fs::remove_dir_all(&d).ok();
}
