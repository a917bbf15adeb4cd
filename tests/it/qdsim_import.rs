//! `qdsim-gpu import-qdsim`: QDSim's configuration files (written here from the keys QDSim
//! read) converted to scenes — units, the diode with its reverse bias, the dot potential,
//! batch sweeps, the note of what has no counterpart, and bad input (exit 2, the key named).

use std::path::Path;

use serde_json::{json, Value};

use crate::common::{bin, run, text, tmpdir};

/// QDSim's canonical case, as simple_qd.yaml held it (lengths nm, v_0 eV, doping m⁻³).
const DIODE_YAML: &str = "\
# QDSim simple_qd.yaml
lx: 200.0
ly: 100.0
nx: 200
ny: 100
element_order: 2
qd_material: InAs
matrix_material: GaAs
diode_p_material: GaAs
diode_n_material: GaAs
r: 10.0
v_0: 0.3
potential_type: gaussian
n_a: 1.0e+24
n_d: 1.0e+24
v_r: 0.2
tolerance: 1.0e-6
max_iter: 30
use_mpi: true
temperature: 300
eta: 0.1
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn import(path: &Path) -> (Value, String) {
    let o = run(&["import-qdsim", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (serde_json::from_slice(&o.stdout).expect("the scene on stdout"), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_diode_yaml_is_the_shipped_dot_in_pn_diode_scene() {
    let d = tmpdir("import", "diode");
    let cfg = write(&d, "simple_qd.yaml", DIODE_YAML);
    let (scene, stderr) = import(&cfg);
    // m⁻³ → cm⁻³, the n contact at +v_r, the dot a region of InAs at the junction: the
    // scene that scenes/dot_in_pn_diode_2d.json ships, field for field
    let shipped: Value = serde_json::from_str(&std::fs::read_to_string("scenes/dot_in_pn_diode_2d.json").unwrap()).unwrap();
    assert_eq!(scene["domain"], json!({ "size": [200.0, 100.0], "spacing": [1.0, 1.0] }));
    assert_eq!(scene["temperature"], json!(300.0));
    for k in ["background", "regions", "contacts", "solve"] {
        assert_eq!(scene[k], shipped[k], "{k}: {}", serde_json::to_string_pretty(&scene[k]).unwrap());
    }
    // what has no counterpart: in the note (stderr) and the description
    let desc = scene["description"].as_str().unwrap();
    for (key, words) in [("element_order", "finite-element order"), ("use_mpi", "mpirun"), ("eta", "absorbing"), ("v_0", "not applied")] {
        assert!(stderr.contains(key) && stderr.contains(words), "{key} missing from the note: {stderr}");
        assert!(desc.contains(key), "{key} missing from the description: {desc}");
    }
    assert!(desc.starts_with("Converted from QDSim's simple_qd.yaml"), "{desc}");
}

#[test]
fn json_configs_with_the_dot_potential_and_si_units() {
    let d = tmpdir("import", "potential");
    // QDSim's Python configurations wrote SI: lengths in m, v_0 in J
    let cfg = write(
        &d,
        "simple_qd.json",
        r#"{ "Lx": 6e-8, "Ly": 6e-8, "nx": 60, "ny": 60, "R": 8e-9, "V_0": 4.806529902e-20,
             "potential_type": "square", "matrix_material": "GaAs", "qd_material": "InAs",
             "num_eigenvalues": 3, "tolerance": 1e-9, "use_mpi": false, "mesh_cache": "x" }"#,
    );
    let (scene, stderr) = import(&cfg);
    assert_eq!(scene["domain"]["size"], json!([60.0, 60.0]));
    assert_eq!(scene["solve"], json!({ "states": 3, "tolerance": 1e-9 }));
    assert_eq!(scene["background"], json!({ "material": "GaAs" }));
    let p = &scene["potentials"][0];
    assert_eq!(p["type"], "square_well");
    assert!((p["depth"].as_f64().unwrap() - 0.3).abs() < 1e-9, "{p}");
    assert!((p["shape"]["radius"].as_f64().unwrap() - 8.0).abs() < 1e-9, "{p}");
    assert!(scene.get("contacts").is_none() && scene.get("regions").is_none());
    for w in ["looks like metres", "looks like joules", "effective mass", "mesh_cache"] {
        assert!(stderr.contains(w), "{w}: {stderr}");
    }
    // gaussian: V = −v_0 exp(−r²/2R²), QDSim's form, is the scene's gaussian with σ = R
    let g = write(&d, "gauss.yaml", "lx: 60\nly: 60\nnx: 60\nny: 60\nr: 8\nv_0: 0.3\npotential_type: gaussian\n");
    let (scene, _) = import(&g);
    assert_eq!(scene["potentials"][0], json!({ "type": "gaussian", "depth": 0.3, "sigma": 8.0, "center": [0.0, 0.0] }));
    // the written scene solves: a well of 0.3 eV holds its states below the barrier
    let out = d.join("scene.json");
    let o = run(&["import-qdsim", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let res = d.join("scene.out");
    let o = run(&["solve", out.to_str().unwrap(), "--out", res.to_str().unwrap(), "--quiet", "--backend", "cpu"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(res.join("results.json")).unwrap()).unwrap();
    let e0 = r["states"][0]["energy_ev"].as_f64().unwrap();
    let edge = r["reference"]["lowest_band_edge_ev"].as_f64().unwrap();
    assert!(e0 > edge - 0.3 && e0 < edge, "E0 {e0} not in the 0.3 eV well below {edge}");
}

#[test]
fn batch_files_become_a_sweep() {
    let d = tmpdir("import", "batch");
    let base = DIODE_YAML.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n");
    let cfg = write(
        &d,
        "batch_qd.yaml",
        &format!(
            "base_config:\n{base}\nparameter_sweeps:\n  - name: bias\n    parameter: V_r\n    values: [0.0, 0.25, 0.5]\n  - name: radius\n    parameter: r\n    values: {{start: 5, stop: 10, num: 3}}\n  - name: doping\n    parameter: n_d\n    values: [1.0e+23, 1.0e+24]\n"
        ),
    );
    let (scene, stderr) = import(&cfg);
    assert_eq!(scene["sweep"], json!({ "parameter": "contacts[1].voltage", "values": [0.0, 0.25, 0.5] }));
    assert!(stderr.contains("--set regions[1].shape.radius=5.0,7.5,10.0"), "{stderr}");
    assert!(stderr.contains("--set regions[0].doping.donors=1e+17,1e+18"), "{stderr}");
    // the scene's sweep is valid: every point checked by `sweep` before solving (here only
    // the checks: a bad path would fail them at once)
    let out = d.join("batch.json");
    let o = run(&["import-qdsim", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let loaded = qdsim_gpu::scene::load_scene(&out).unwrap();
    let spec = qdsim_gpu::pipeline::sweep::SweepSpec::from_scene(&loaded).unwrap();
    let points = qdsim_gpu::pipeline::sweep::points(&loaded, &spec, &Default::default()).unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[2].scene.contacts[1].voltage, 0.5);
    // a base_config given as a file next to the batch file
    write(&d, "simple_qd.yaml", DIODE_YAML);
    let cfg2 = write(&d, "batch2.yaml", "base_config: simple_qd.yaml\nparameter_sweeps:\n  - {name: t, parameter: temperature, values: [77, 300]}\n");
    let (scene, _) = import(&cfg2);
    assert_eq!(scene["sweep"], json!({ "parameter": "temperature", "values": [77.0, 300.0] }));
}

#[test]
fn bad_configurations_exit_2_naming_the_key() {
    let d = tmpdir("import", "bad");
    for (name, body, needle) in [
        ("nolx.yaml", "ly: 100\nnx: 10\nny: 10\n", "lx"),
        ("mat.yaml", "lx: 100\nly: 100\nqd_material: Unobtainium\n", "qd_material"),
        ("pot.yaml", "lx: 100\nly: 100\nv_0: 0.3\npotential_type: harmonic\n", "potential_type"),
        ("neg.yaml", "lx: 100\nly: -5\n", "ly"),
        ("nx.yaml", "lx: 100\nly: 100\nnx: 2\n", "nx"),
        ("dop.yaml", "lx: 100\nly: 100\nn_a: 1e40\n", "background.doping.acceptors"),
        ("malformed.yaml", "lx: [1, 2\n", "malformed YAML"),
        ("list.json", "[1, 2]", "mapping of keys"),
        ("sweep.yaml", "base_config: {lx: 100, ly: 100}\nparameter_sweeps:\n  - {name: a, parameter: eta, values: [1]}\n", "parameter_sweeps[0].parameter"),
        ("range.yaml", "base_config: {lx: 100, ly: 100}\nparameter_sweeps:\n  - {name: a, parameter: r, values: {start: 1, stop: 2, num: 1}}\n", "parameter_sweeps[0].values"),
    ] {
        let p = write(&d, name, body);
        let o = run(&["import-qdsim", p.to_str().unwrap()]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        assert!(t.contains(needle), "{name}: `{needle}` not in {t}");
        assert!(!t.contains("panicked"), "{name}: {t}");
    }
    let o = run(&["import-qdsim", d.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn out_replaces_only_a_scene_it_wrote() {
    let d = tmpdir("import", "out");
    let cfg = write(&d, "simple_qd.yaml", DIODE_YAML);
    let mine = write(&d, "mine.json", "{\"my\": \"notes\"}");
    let o = bin().args(["import-qdsim", cfg.to_str().unwrap(), "--out", mine.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "{\"my\": \"notes\"}");
    let out = d.join("scene.json");
    for _ in 0..2 {
        let o = run(&["import-qdsim", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    qdsim_gpu::scene::load_scene(&out).expect("a valid scene file");
    // the configuration itself is never replaced
    let o = run(&["import-qdsim", cfg.to_str().unwrap(), "--out", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), DIODE_YAML);
}
