//! The command-line program end to end: a scene solved with every output file present and
//! readable, and bad input refused with exit code 2, the JSON path named, no panic and no
//! output folder.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::{bin, run, text};

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
            let db = qdsim_gpu::pipeline::prepare::material_db(&loaded).unwrap();
            qdsim_gpu::pipeline::prepare::resolve_fills(&loaded.scene, &db).unwrap();
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

// ---- issue 11: --out never loses a user's file; no stale temporaries; closed stdout ----

/// The sorted names in folder `d`.
fn names(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A folder with the 1D well scene `well.json` and a user's file `notes.txt`.
fn well_folder(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = tmpdir(name);
    let scene = d.join("well.json");
    std::fs::write(&scene, WELL).unwrap();
    let notes = d.join("notes.txt");
    std::fs::write(&notes, "my notes\n").unwrap();
    (d, scene, notes)
}

/// Exit 2, the first line names --out and `what`, no panic.
fn out_refused(o: &std::process::Output, what: &str) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    let first = t.lines().next().unwrap_or("");
    assert!(first.starts_with("error: invalid input at `--out`") && first.contains(what), "first line: {first}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn out_refuses_an_existing_file_and_the_scene_itself() {
    let (d, scene, notes) = well_folder("out-file");
    for target in [&notes, &scene] {
        let o = run(&["solve", scene.to_str().unwrap(), "--out", target.to_str().unwrap(), "--quiet"]);
        out_refused(&o, target.to_str().unwrap());
        let o = run(&["sweep", scene.to_str().unwrap(), "--set", "temperature=4,77", "--out", target.to_str().unwrap(), "--quiet"]);
        out_refused(&o, target.to_str().unwrap());
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    assert_eq!(std::fs::read_to_string(&scene).unwrap(), WELL);
    assert_eq!(names(&d), vec!["notes.txt", "well.json"], "nothing else written");
}

#[test]
fn out_refuses_the_folder_holding_the_scene() {
    let (d, _, notes) = well_folder("out-cwd");
    std::fs::create_dir(d.join("data")).unwrap();
    std::fs::write(d.join("data").join("run1.csv"), "1,2\n").unwrap();
    // cd s && qdsim-gpu solve scene.json --out "$(pwd)" (and --out . and a user's folder)
    let dir = d.to_str().unwrap().to_string();
    for out in [dir.as_str(), ".", "data"] {
        for cmd in [vec!["solve", "well.json", "--out", out, "--quiet"], vec!["sweep", "well.json", "--set", "temperature=4,77", "--out", out, "--quiet"]] {
            let o = bin().current_dir(&d).args(&cmd).output().unwrap();
            out_refused(&o, if out == "." { "must name a folder" } else { out });
        }
    }
    // nor the folder the command runs in, even an empty one
    std::fs::create_dir(d.join("empty")).unwrap();
    let empty = d.join("empty");
    let o = bin().current_dir(&empty).args(["solve", "../well.json", "--out", empty.to_str().unwrap(), "--quiet"]).output().unwrap();
    out_refused(&o, "the current folder");
    assert_eq!(names(&empty), Vec::<String>::new());
    std::fs::remove_dir(&empty).unwrap();
    assert_eq!(names(&d), vec!["data", "notes.txt", "well.json"]);
    assert_eq!(names(&d.join("data")), vec!["run1.csv"]);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    // an output folder of ours that the user has put the scene into is not replaced either
    let out = d.join("result");
    let o = run(&["solve", d.join("well.json").to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(out.join("well.json"), WELL).unwrap();
    let o = run(&["solve", out.join("well.json").to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    out_refused(&o, "holds");
    assert!(out.join("well.json").exists() && out.join("results.json").exists());
}

#[test]
fn out_replaces_an_earlier_output_folder_as_a_whole() {
    let (d, scene, _) = well_folder("out-replace");
    let out = d.join("result");
    let sweep_out = d.join("sweep");
    for round in 0..2 {
        let o = run(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        let o = run(&["sweep", scene.to_str().unwrap(), "--set", "temperature=4,77", "--out", sweep_out.to_str().unwrap(), "--quiet"]);
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o));
        for f in [&out, &sweep_out] {
            assert!(!f.join("stale.txt").exists(), "round {round}: the earlier folder was not replaced as a whole");
            assert!(f.join(".qdsim-output").exists());
            std::fs::write(f.join("stale.txt"), "from the earlier run").unwrap();
        }
        assert!(out.join("results.json").exists() && sweep_out.join("sweep.json").exists());
    }
    assert_eq!(names(&d), vec!["notes.txt", "result", "sweep", "well.json"], "no temporaries left");
}

#[test]
fn temporaries_of_killed_runs_are_removed_at_the_next_run() {
    let (d, scene, _) = well_folder("out-stale");
    // no process has an id above the kernel's limit (at most 2^22): these were killed
    let dead = 4_194_304 + 777;
    for t in [format!(".result.tmp-{dead}"), format!(".result.old-{}", dead + 1)] {
        std::fs::create_dir(d.join(&t)).unwrap();
        std::fs::write(d.join(&t).join("psi2_000.npy"), vec![0u8; 4096]).unwrap();
    }
    // a run in progress (this test process is alive) keeps its temp folder
    let live = format!(".result.tmp-{}", std::process::id());
    std::fs::create_dir(d.join(&live)).unwrap();
    let out = d.join("result");
    let o = run(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(names(&d), vec![live.clone(), "notes.txt".into(), "result".into(), "well.json".into()]);
    // the same for a sweep's folder
    let stale = d.join(format!(".well.sweep.tmp-{dead}"));
    std::fs::create_dir(&stale).unwrap();
    let o = run(&["sweep", scene.to_str().unwrap(), "--set", "temperature=4,77", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!stale.exists() && d.join("well.sweep").join("sweep.csv").exists());
}

#[test]
#[cfg(target_os = "linux")]
fn out_where_nothing_can_be_created_is_bad_input() {
    let (d, scene, _) = well_folder("out-proc");
    let o = run(&["solve", scene.to_str().unwrap(), "--out", "/proc/qdsim-x", "--quiet"]);
    out_refused(&o, "/proc/qdsim-x");
    let o = run(&["solve", scene.to_str().unwrap(), "--out", d.join("notes.txt").join("x").to_str().unwrap(), "--quiet"]);
    out_refused(&o, "notes.txt");
    assert_eq!(names(&d), vec!["notes.txt", "well.json"]);
}

#[test]
fn export_matrix_never_overwrites_what_it_did_not_write() {
    let (d, _, notes) = well_folder("out-mtx");
    let scene = d.join("s.json");
    std::fs::write(&scene, BASE).unwrap();
    let export = |out: &Path| run(&["export-matrix", scene.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    out_refused(&export(&d), "is a folder");
    out_refused(&export(&notes), "not written by qdsim-gpu");
    out_refused(&export(&scene), "is an input");
    #[cfg(target_os = "linux")]
    out_refused(&export(Path::new("/proc/qdsim-H.mtx")), "/proc/qdsim-H.mtx");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    assert_eq!(std::fs::read_to_string(&scene).unwrap(), BASE);
    // its own file is replaced, through a temp file that does not stay behind
    let mtx = d.join("H.mtx");
    for _ in 0..2 {
        let o = export(&mtx);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    assert!(std::fs::read_to_string(&mtx).unwrap().starts_with("%%MatrixMarket"));
    assert_eq!(names(&d), vec!["H.mtx", "notes.txt", "s.json", "well.json"]);
}

#[test]
fn a_closed_stdout_is_the_end_of_output_not_a_crash() {
    let (d, scene, _) = well_folder("stdout-closed");
    let out = d.join("result");
    for args in [vec!["info"], vec!["materials"], vec!["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap()]] {
        // `qdsim-gpu ... | head -c0`: the reading end is closed before anything is written
        let mut child = bin().args(&args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.lines().any(|l| l.starts_with("error")), "{args:?}: {err}");
    }
    assert!(out.join("results.json").exists());
}

#[test]
#[cfg(target_os = "linux")]
fn a_full_stdout_is_one_line_and_exit_1() {
    let (d, scene, _) = well_folder("stdout-full");
    let out = d.join("result");
    for args in [vec!["info"], vec!["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap()]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let o = bin().args(&args).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        // one line (besides any notice or driver warning), no panic, no backtrace
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("error") || l.contains("panic") || l.contains("backtrace")).collect();
        assert_eq!(errors, vec!["error: writing to standard output: No space left on device (os error 28)"], "{args:?}: {err}");
    }
    // the work itself was done
    assert!(out.join("results.json").exists());
}

#[test]
fn ci_presence_checks_cannot_race() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci").join("run");
    let text = std::fs::read_to_string(&script).unwrap();
    // `cmd | grep -q` under pipefail fails when grep exits first and cmd dies of SIGPIPE
    for (i, l) in text.lines().enumerate() {
        let code = l.split('#').next().unwrap_or("");
        assert!(!(code.contains('|') && code.contains("grep -q")), ".ci/run line {}: a pipeline into grep -q: {l}", i + 1);
    }
    if std::process::Command::new("bash").arg("--version").output().is_err() {
        return;
    }
    let once = || {
        let o = std::process::Command::new("bash").arg(&script).arg("--check").output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let first = once();
    assert!(first.starts_with("missing:"), "{first}");
    for _ in 0..20 {
        assert_eq!(once(), first, "the presence checks of .ci/run disagree from run to run");
    }
}
