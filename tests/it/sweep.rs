//! `qdsim-gpu sweep` end to end: a 1D well swept through the binary (CSV columns and rows,
//! the plot, energies against independent single solves), zipped parameters, bad input
//! refused before anything is solved or written, non-convergence flagged with exit code 3,
//! warm start equal to cold start, and the three shipped sweep scenes validated.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::{run, text};

fn tmpdir(name: &str) -> PathBuf {
    common::tmpdir("sweep", name)
}





/// 500 cells: above the dense limit, so the Lanczos eigensolver (and its warm start) runs.
const WELL: &str = r#"{
  "name": "sweep test well",
  "domain": { "size": [50.0], "spacing": 0.1 },
  "background": { "material": "AlGaAs", "x": 0.3 },
  "regions": [ { "name": "well", "shape": { "type": "layer", "axis": "x", "from": -3.0, "to": 3.0 }, "material": "GaAs" } ],
  "solve": { "states": 2, "tolerance": 1e-10, "backend": "cpu" },
  "output": { "npy": false, "vtk": false }
}"#;

fn scene(d: &Path) -> PathBuf {
    let p = d.join("well.json");
    std::fs::write(&p, WELL).unwrap();
    p
}

/// (header, rows) of a CSV without quoted fields.
fn read_csv(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let t = std::fs::read_to_string(p).unwrap();
    let mut lines = t.lines();
    let head = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines.map(|l| l.split(',').map(String::from).collect()).collect();
    (head, rows)
}

fn col(head: &[String], name: &str) -> usize {
    head.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {head:?}"))
}

fn only_entries(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn zipped_sweep_of_a_widening_well_matches_single_solves() {
    let d = tmpdir("zip");
    let s = scene(&d);
    let out = d.join("out");
    let o = run(&[
        "sweep",
        s.to_str().unwrap(),
        "--set",
        "regions[0].shape.from=-3:-6:4",
        "--set",
        "regions[0].shape.to=3,4,5,6",
        "--out",
        out.to_str().unwrap(),
        "--keep-points",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (head, rows) = read_csv(&out.join("sweep.csv"));
    for c in ["point", "regions[0].shape.from (nm)", "regions[0].shape.to (nm)", "converged", "E0_eV", "E1_eV", "matvecs", "warm_start", "solve_s"] {
        col(&head, c);
    }
    assert_eq!(rows.len(), 4);
    let (cf, ct, ce0, ce1, cw) = (col(&head, "regions[0].shape.from (nm)"), col(&head, "regions[0].shape.to (nm)"), col(&head, "E0_eV"), col(&head, "E1_eV"), col(&head, "warm_start"));
    let e0: Vec<f64> = rows.iter().map(|r| r[ce0].parse().unwrap()).collect();
    let e1: Vec<f64> = rows.iter().map(|r| r[ce1].parse().unwrap()).collect();
    for (i, r) in rows.iter().enumerate() {
        let half = 3.0 + i as f64;
        assert_eq!(r[cf].parse::<f64>().unwrap(), -half, "zipped: point {i} takes value {i} of each --set");
        assert_eq!(r[ct].parse::<f64>().unwrap(), half);
        assert_eq!(r[col(&head, "converged")], "true");
        assert_eq!(r[cw], if i == 0 { "false" } else { "true" });
        assert!(e1[i] > e0[i]);
    }
    assert!(e0.windows(2).all(|w| w[1] < w[0]), "levels fall as the well widens: {e0:?}");
    assert!(e1.windows(2).all(|w| w[1] < w[0]), "{e1:?}");
    assert!(std::fs::metadata(out.join("levels.png")).unwrap().len() > 1000);
    let js: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(js["status"], "converged");
    assert_eq!(js["points"].as_array().unwrap().len(), 4);
    assert_eq!(js["parameters"][0]["unit"], "nm");
    assert_eq!(js["points"][2]["values"]["regions[0].shape.to"], 5);
    for i in 0..4 {
        assert!(out.join(format!("points/{i:03}/results.json")).exists());
    }
    // independent single solves at the same values (a cold start each): the same energies
    // to well within the solver tolerance (1e-10 of ‖H‖ in the residual)
    for (i, half) in [3.0f64, 4.0, 5.0, 6.0].iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(WELL).unwrap();
        v["regions"][0]["shape"]["from"] = serde_json::json!(-half);
        v["regions"][0]["shape"]["to"] = serde_json::json!(half);
        let p = d.join(format!("single{i}.json"));
        std::fs::write(&p, v.to_string()).unwrap();
        let so = d.join(format!("single{i}.out"));
        let o = run(&["solve", p.to_str().unwrap(), "--out", so.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(so.join("results.json")).unwrap()).unwrap();
        for (n, e) in [e0[i], e1[i]].iter().enumerate() {
            let single = r["states"][n]["energy_ev"].as_f64().unwrap();
            assert!((single - e).abs() < 1e-9, "point {i} state {n}: sweep {e} vs single {single}");
        }
    }
}

#[test]
fn warm_start_gives_the_cold_start_energies() {
    let d = tmpdir("warm");
    let s = scene(&d);
    let mut csvs = Vec::new();
    for (name, extra) in [("warm", None), ("cold", Some("--cold"))] {
        let out = d.join(name);
        let mut args = vec!["sweep", s.to_str().unwrap(), "--set", "background.x=0.1:0.4:4", "--out", out.to_str().unwrap(), "--quiet"];
        args.extend(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        csvs.push(read_csv(&out.join("sweep.csv")));
    }
    let (head, warm) = &csvs[0];
    let (_, cold) = &csvs[1];
    let cw = col(head, "warm_start");
    assert_eq!(warm[1][cw], "true");
    assert_eq!(cold[1][cw], "false");
    for c in ["E0_eV", "E1_eV"] {
        let k = col(head, c);
        for (w, c0) in warm.iter().zip(cold) {
            let (a, b): (f64, f64) = (w[k].parse().unwrap(), c0[k].parse().unwrap());
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
    // a deeper barrier (larger x) pushes the levels up
    let k = col(head, "E0_eV");
    let e0: Vec<f64> = warm.iter().map(|r| r[k].parse().unwrap()).collect();
    assert!(e0.windows(2).all(|w| w[1] > w[0]), "{e0:?}");
}

#[test]
fn mismatched_counts_and_bad_paths_are_refused_before_anything_is_written() {
    let d = tmpdir("bad");
    let s = scene(&d);
    let out = d.join("out");
    let o_s = out.to_str().unwrap();
    let sc = s.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--set", "regions[0].shape.from=-3,-4", "--set", "regions[0].shape.to=3,4,5"], "same number of values"),
        (&["--set", "regions[0].shape.radius=1,2"], "radius"),
        (&["--set", "regions[3].shape.to=1,2"], "regions[3]"),
        (&["--set", "background.x=0.2,1.7"], "sweep point 1"),
        (&[], "no sweep block"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["sweep", sc, "--out", o_s, "--quiet"];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{extra:?}: wanted `{want}` in {}", text(&o));
        assert!(!text(&o).contains("panicked"));
        assert_eq!(only_entries(&d), vec!["well.json"], "{extra:?} left files behind");
    }
}

#[test]
fn a_point_that_does_not_converge_is_flagged_and_the_sweep_goes_on() {
    let d = tmpdir("nonconv");
    let s = scene(&d);
    let out = d.join("out");
    let o = run(&["sweep", s.to_str().unwrap(), "--set", "solve.max_iterations=4,20000", "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("did not converge"));
    let (head, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 2);
    let c = col(&head, "converged");
    assert_eq!(rows[0][c], "false");
    assert_eq!(rows[1][c], "true");
    let js: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(js["status"], "not_converged");
    assert_eq!(js["summary"]["not_converged"], serde_json::json!([0]));
    assert_eq!(js["points"][0]["status"], "not_converged");
    assert!(out.join("levels.png").exists());
}

#[test]
fn the_well_depth_scene_sweeps_from_its_own_block() {
    let d = tmpdir("depth");
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/sweep_well_depth.json");
    let out = d.join("out");
    let o = run(&["sweep", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (head, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 7);
    let x: Vec<String> = rows.iter().map(|r| r[col(&head, "background.x (alloy fraction)")].clone()).collect();
    assert_eq!(x, ["0.1", "0.15", "0.2", "0.25", "0.3", "0.35", "0.4"], "range values read as written");
}

#[test]
fn every_shipped_sweep_scene_validates_at_every_point() {
    // the reverse-bias scene needs the self-consistent mode to run; here its points are only
    // built and checked (parse, validate, materials, grid), as the sweep does before solving
    for (name, points) in [("sweep_dot_radius.json", 11), ("sweep_well_depth.json", 7), ("sweep_reverse_bias.json", 6)] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes").join(name);
        let loaded = qdsim_gpu::scene::load_scene(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        let spec = qdsim_gpu::pipeline::sweep::SweepSpec::from_scene(&loaded).unwrap();
        let pts = qdsim_gpu::pipeline::sweep::points(&loaded, &spec, &Default::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pts.len(), points, "{name}");
        assert!(pts.iter().all(|s| s.scene.sweep.is_none()));
    }
}

/// Issue 11 item 8: `--set temperature=1:300:100000000` used to allocate 59 GB and abort;
/// the point count is capped (10 000) and checked before any point is built, for `--set`
/// ranges and lists and for the scene's sweep block alike: exit 2 naming the argument or
/// field, at once, nothing written. A sweep's checks report their progress.
#[test]
fn sweep_point_count_is_capped_before_anything_is_built() {
    let d = tmpdir("cap");
    let s = scene(&d);
    let out = d.join("out");
    let list = format!("temperature={}", vec!["300"; 10_001].join(","));
    for (arg, shown) in [("temperature=1:300:100000000", "100000000 points"), (list.as_str(), "10001 points")] {
        let t0 = std::time::Instant::now();
        let o = run(&["sweep", s.to_str().unwrap(), "--set", arg, "--out", out.to_str().unwrap(), "--quiet"]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        let first = t.lines().next().unwrap_or("");
        assert!(first.starts_with("error: invalid input at `--set`"), "{first}");
        assert!(first.contains(shown) && first.contains("at most 10000 points"), "{first}");
        assert!(!t.contains("panicked"), "{t}");
        assert!(t0.elapsed().as_secs_f64() < 10.0, "refused after {:?}", t0.elapsed());
        assert_eq!(only_entries(&d), vec!["well.json"]);
    }
    // the scene's sweep block: refused by validation, for solve and sweep alike
    let mut v: serde_json::Value = serde_json::from_str(WELL).unwrap();
    v["sweep"] = serde_json::json!({"parameter": "temperature", "values": {"from": 1, "to": 300, "steps": 100_000_000u64}});
    let big = d.join("big.json");
    std::fs::write(&big, v.to_string()).unwrap();
    for cmd in ["sweep", "solve"] {
        let o = run(&[cmd, big.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {t}");
        assert!(t.lines().next().unwrap_or("").starts_with("error: invalid input at `sweep.values`"), "{cmd}: {t}");
        assert!(t.contains("at most 10000 points"), "{cmd}: {t}");
        assert!(!out.exists());
    }
    // the checks of many points tell how far they have got, ending at (total, total)
    let loaded = qdsim_gpu::scene::load_scene(&s).unwrap();
    let spec = qdsim_gpu::pipeline::sweep::SweepSpec::from_sets(&["temperature=4:300:2000".to_string()]).unwrap();
    let mut seen = Vec::new();
    let pts = qdsim_gpu::pipeline::sweep::points_with(&loaded, &spec, &Default::default(), &mut |i, n| seen.push((i, n))).unwrap();
    assert_eq!(pts.len(), 2000);
    assert_eq!(seen.last(), Some(&(2000, 2000)), "{seen:?}");
}

/// Issue 11, item 13: sweep.csv says what it means. A device sweep fills `method`,
/// `matvecs`, `lowest_band_edge_eV` and `warm_start` (it starts each point from the previous
/// potential) and writes integers as integers; states above the barrier are listed in
/// `unbound_states` and flagged `bound: false` in the points' states.
#[test]
fn sweep_csv_fills_device_columns_flags_unbound_states_and_writes_integers() {
    let d = tmpdir("csv-columns");
    // a 6 nm well holds 2 levels: the other 4 of 6 are above the AlGaAs barrier
    let well = d.join("well6.json");
    std::fs::write(&well, WELL.replace(r#""states": 2"#, r#""states": 6"#)).unwrap();
    let out = d.join("well.sweep");
    let o = run(&["sweep", well.to_str().unwrap(), "--set", "regions[0].shape.to=3:3.5:2", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (head, rows) = read_csv(&out.join("sweep.csv"));
    let cu = col(&head, "unbound_states");
    for r in &rows {
        let idx: Vec<usize> = r[cu].split(';').map(|s| s.parse().unwrap()).collect();
        assert!(idx.len() >= 3 && idx.len() <= 5 && !idx.contains(&0), "unbound states {:?}", r[cu]);
    }
    let sj: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let st = sj["points"][0]["states"].as_array().unwrap();
    assert_eq!(st.iter().filter(|s| s["bound"] == false).count(), rows[0][cu].split(';').count());
    // a device sweep (self-consistent 2DEG, two gate voltages)
    let hj = d.join("hj.json");
    std::fs::write(&hj, r#"{
  "domain": { "size": [400.0], "spacing": 1.0 }, "temperature": 77,
  "background": { "material": "GaAs", "doping": { "acceptors": 1e14 } },
  "regions": [
    { "shape": { "type": "layer", "axis": "x", "from": -200.0, "to": -140.0 }, "material": "AlGaAs", "x": 0.3 },
    { "shape": { "type": "layer", "axis": "x", "from": -200.0, "to": -150.0 }, "material": "AlGaAs", "x": 0.3, "doping": { "donors": 1e18 } } ],
  "contacts": [ { "face": "x_min", "type": "schottky", "barrier": 0.7 }, { "face": "x_max", "type": "ohmic" } ],
  "solve": { "mode": "self_consistent", "states": 4, "backend": "cpu",
    "poisson": { "holes": true, "tolerance": 1e-6, "max_iterations": 60,
      "quantum_region": { "min": [-150.0], "max": [-40.0] } } },
  "output": { "npy": false, "vtk": false, "plots": false }
}"#).unwrap();
    let out = d.join("hj.sweep");
    let o = run(&["sweep", hj.to_str().unwrap(), "--set", "contacts[0].voltage=0:-0.05:2", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (head, rows) = read_csv(&out.join("sweep.csv"));
    assert_eq!(rows.len(), 2);
    for (i, r) in rows.iter().enumerate() {
        assert!(!r[col(&head, "method")].is_empty(), "method of point {i}: {r:?}");
        let be = &r[col(&head, "lowest_band_edge_eV")];
        assert!(be.parse::<f64>().is_ok(), "lowest_band_edge_eV of point {i}: {be:?}");
        assert_eq!(r[col(&head, "warm_start")], if i == 0 { "false" } else { "true" }, "point {i}");
        let it = &r[col(&head, "self_consistent_iterations")];
        assert!(it.parse::<u64>().is_ok_and(|n| n > 0), "an integer, written as one: {it:?}");
        assert!(r[col(&head, "matvecs")].parse::<u64>().is_ok());
        assert!(r[col(&head, "quantum_electrons_cm-2")].parse::<f64>().is_ok_and(|n| n > 1e10));
    }
    let _ = std::fs::remove_dir_all(&d);
}
