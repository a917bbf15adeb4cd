//! The command-line program end to end: a scene solved with every output file present and
//! readable, and bad input refused with exit code 2, the JSON path named, no panic and no
//! output folder.

use std::path::{Path, PathBuf};

mod common;
use common::{bin, run, text};

fn tmpdir(name: &str) -> PathBuf {
    common::tmpdir("cli", name)
}





const WELL: &str = r#"{
  "name": "test well",
  "domain": { "size": [40.0], "spacing": 0.2 },
  "background": { "material": "AlGaAs", "x": 0.3 },
  "regions": [ { "shape": { "type": "layer", "axis": "x", "from": -4.0, "to": 4.0 }, "material": "GaAs" } ],
  "solve": { "states": 2 },
  "output": { "wavefunctions": true }
}"#;

#[test]
fn solves_a_1d_scene_and_writes_every_output() {
    let d = tmpdir("well");
    let scene = d.join("well.json");
    std::fs::write(&scene, WELL).unwrap();
    let out = d.join("result");
    let o = run(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let res: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(res["status"], "converged");
    let states = res["states"].as_array().unwrap();
    assert_eq!(states.len(), 2);
    let e0 = states[0]["energy_above_band_edge_mev"].as_f64().unwrap();
    assert!(e0 > 10.0 && e0 < 100.0, "ground state {e0} meV above the GaAs band edge");
    for f in res["files"].as_array().unwrap() {
        let p = out.join(f.as_str().unwrap());
        assert!(p.metadata().map(|m| m.len() > 0).unwrap_or(false), "{} missing or empty", p.display());
    }
    for f in ["band_edge.npy", "potential.npy", "material.npy", "psi2_000.npy", "psi2_001.npy", "psi_000.npy", "fields.vti", "states.png", "results.json"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let (dims, psi2) = qdsim_gpu::output::npy::read_npy(&out.join("psi2_000.npy")).unwrap();
    assert_eq!(dims, vec![200]);
    let norm: f64 = psi2.iter().sum::<f64>() * 0.2;
    assert!((norm - 1.0).abs() < 1e-9, "|psi|^2 integrates to {norm}");
    let vti = std::fs::read_to_string(out.join("fields.vti")).unwrap();
    assert!(vti.contains("ImageData") && vti.contains("psi2_001"));
    let png = std::fs::read(out.join("states.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    // no temp folders left beside it
    let leftovers: Vec<_> = std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
    assert!(leftovers.is_empty());
}

#[test]
fn solves_a_2d_scene_with_slice_plots_and_default_out_dir() {
    let d = tmpdir("ho2d");
    let scene = d.join("ho.json");
    std::fs::write(
        &scene,
        r#"{ "domain": { "size": [80, 60], "spacing": 2 }, "background": { "material": "GaAs" },
             "potentials": [ { "type": "harmonic", "hbar_omega": 0.02 } ], "solve": { "states": 3 } }"#,
    )
    .unwrap();
    let o = run(&["solve", scene.to_str().unwrap(), "--states", "4"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = d.join("ho.out");
    assert!(out.join("slices.png").exists());
    let res: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(res["states"].as_array().unwrap().len(), 4);
    assert_eq!(res["grid"]["cells"], serde_json::json!([40, 30]));
    // stdout has the table
    assert!(text(&o).contains("above band edge"));
}

#[test]
fn not_converged_writes_flagged_results_and_exits_3() {
    let d = tmpdir("nc");
    let scene = d.join("nc.json");
    std::fs::write(
        &scene,
        r#"{ "domain": { "size": [100, 100], "spacing": 1 }, "background": { "material": "GaAs" },
             "potentials": [ { "type": "harmonic", "hbar_omega": 0.01 } ],
             "solve": { "states": 4, "max_iterations": 20, "tolerance": 1e-10 } }"#,
    )
    .unwrap();
    let out = d.join("out");
    let o = run(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("did not converge"));
    let res: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(res["status"], "not_converged");
    assert_eq!(res["converged"], false);
}

/// Runs a bad scene and checks: exit 2, the message names `path`, no panic, no output.
fn refused(name: &str, scene_text: &str, path: &str) -> String {
    let d = tmpdir(name);
    let scene = d.join("bad.json");
    std::fs::write(&scene, scene_text).unwrap();
    let out = d.join("out");
    let o = run(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{name}: {t}");
    assert!(t.contains(path), "{name}: message does not name `{path}`: {t}");
    assert!(!t.contains("panicked"), "{name}: {t}");
    assert!(!out.exists(), "{name}: output folder written");
    let entries: Vec<_> = std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert_eq!(entries.len(), 1, "{name}: stray files {entries:?}");
    t
}

const BASE: &str = r#"{ "domain": { "size": [40, 40], "spacing": 1 }, "background": { "material": "GaAs" },
  "regions": [ { "shape": { "type": "sphere", "center": [0, 0], "radius": 5 }, "material": "InAs" } ] }"#;

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replacen(from, to, 1)
}

#[test]
fn malformed_json() {
    refused("malformed", &BASE[..BASE.len() - 3], "malformed JSON");
}

#[test]
fn unknown_field() {
    refused("unknown", &with(r#""radius": 5"#, r#""radius": 5, "radus": 4"#), "regions[0].shape");
}

#[test]
fn unknown_material() {
    let t = refused("material", &with(r#""material": "InAs""#, r#""material": "Unobtainium""#), "regions[0].material");
    assert!(t.contains("Unobtainium"));
}

#[test]
fn alloy_fraction_outside_unit_interval() {
    refused("alloy", &with(r#""material": "InAs""#, r#""material": "InGaAs", "x": 1.5"#), "regions[0].x");
}

#[test]
fn alloy_without_fraction() {
    refused("alloy-x", &with(r#""material": "GaAs""#, r#""material": "AlGaAs""#), "background.x");
}

#[test]
fn negative_and_zero_sizes() {
    refused("negative", &with("[40, 40]", "[40, -40]"), "domain.size[1]");
    refused("zero-spacing", &with(r#""spacing": 1"#, r#""spacing": 0"#), "domain.spacing");
    refused("zero-radius", &with(r#""radius": 5"#, r#""radius": 0"#), "regions[0].shape.radius");
}

#[test]
fn region_outside_the_domain() {
    refused("outside", &with("[0, 0], \"radius\"", "[100, 0], \"radius\""), "regions[0].shape");
}

#[test]
fn grid_too_large_for_memory_is_refused_before_allocating() {
    let t = refused(
        "memory",
        r#"{ "domain": { "size": [750, 750, 750], "spacing": 0.5 }, "background": { "material": "GaAs" } }"#,
        "domain.spacing",
    );
    assert!(t.contains("GiB"), "estimate missing: {t}");
}

#[test]
fn missing_scene_file_and_bad_arguments() {
    let o = run(&["solve", "/nonexistent/scene.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["solve"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["solve", "x.json", "--backend", "quantum"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn materials_info_help_and_export() {
    let o = run(&["materials"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("GaAs") && text(&o).contains("InSb"));
    let o = run(&["materials", "AlGaAs", "--x", "0.3", "--temperature", "77"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["materials", "Kryptonite"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["info"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("cpu"));
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("Examples"));

    let d = tmpdir("export");
    let scene = d.join("s.json");
    std::fs::write(&scene, BASE).unwrap();
    let mtx = d.join("H.mtx");
    let o = run(&["export-matrix", scene.to_str().unwrap(), "--out", mtx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = std::fs::read_to_string(&mtx).unwrap();
    assert!(m.starts_with("%%MatrixMarket matrix coordinate real"));
    let size_line = m.lines().find(|l| !l.starts_with('%')).unwrap();
    assert!(size_line.starts_with("1600 1600"), "{size_line}");
}

#[test]
fn every_example_scene_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let loaded = qdsim_gpu::scene::load_scene(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let db = qdsim_gpu::simulation::material_db(&loaded).unwrap();
            qdsim_gpu::simulation::resolve_fills(&loaded.scene, &db).unwrap();
            n += 1;
        }
    }
    assert!(n >= 7);
}

#[test]
fn gpu_backend_errors_are_input_errors() {
    let d = tmpdir("gpu-missing");
    let scene = d.join("s.json");
    std::fs::write(&scene, BASE).unwrap();
    let out = d.join("out");
    // an adapter that does not exist: exit 2, the flag named, no output
    let o = bin()
        .args(["solve", scene.to_str().unwrap(), "--backend", "gpu", "--adapter", "no-such-adapter-xyz", "--out", out.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--adapter"), "{}", text(&o));
    assert!(!out.exists());
    // the cpu backend with --stats says there is nothing to transfer
    let o = run(&["solve", scene.to_str().unwrap(), "--backend", "cpu", "--out", out.to_str().unwrap(), "--quiet", "--stats"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("transfer statistics"));
}
