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
    // device scenes go through self_consistent::run; prepare() refuses them rather than
    // solving the Schrödinger problem alone
    let s = parse_scene(&device().to_string()).unwrap();
    let loaded = qdsim_gpu::scene::LoadedScene { scene: s, path: "d.json".into(), base_dir: ".".into() };
    assert!(qdsim_gpu::simulation::prepare(&loaded, 4).is_err());
}
