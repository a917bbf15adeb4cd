//! Robustness: `parse_scene`, `validate` and building the problem must return (Ok or an input error) and never
//! panic, whatever the text. A valid scene is mutated structurally (keys deleted, numbers
//! replaced by extreme values, strings and values replaced) and textually (truncated at a
//! random byte, random bytes inserted); random JSON values are tried too.
//!
//! The files a scene names are fuzzed too (issue 11): a `materials_file` and a tabulated
//! potential of random kinds (missing, empty, a folder, /dev/null, a link to /dev/zero, a
//! FIFO, random bytes, sparse files of random size up to 40 MiB, .npy files with random
//! shapes and lengths, materials with wild numbers): the binary must exit 2 with one line
//! naming the input (0 only when both files are right), never panic, never write an output
//! folder on an error, and end within seconds.

use crate::common;

use proptest::prelude::*;
use qdsim_gpu::scene::{parse_scene, validate::validate};
use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "name": "fuzz base",
        "domain": { "size": [30, 30, 16], "spacing": [1.0, 1.0, 1.0], "periodic": [false, true, false] },
        "temperature": 77,
        "materials_file": "extra.json",
        "background": { "material": "AlGaAs", "x": 0.3 },
        "regions": [
            { "shape": { "type": "layer", "axis": "z", "from": -2, "to": 2 }, "material": "GaAs" },
            { "shape": { "type": "box", "min": [-5, -5, -1], "max": [5, 5, 1] }, "material": "InGaAs", "x": 0.2 },
            { "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 3 }, "material": "InAs" },
            { "shape": { "type": "cylinder", "center": [1, 0], "radius": 4, "height": 2, "axis": "y" }, "material": "InAs" },
            { "shape": { "type": "cone", "base": [0, 0, -1], "base_radius": 5, "top_radius": 2, "height": 3 }, "material": "InAs" },
            { "shape": { "type": "pyramid", "base": [0, 0, -1], "base_width": 8, "height": 4 }, "material": "InAs" },
            { "shape": { "type": "lens", "base": [0, 0, -1], "radius": 6, "height": 3 }, "material": "InAs" },
            { "shape": { "type": "ellipsoid", "center": [0, 0, 0], "semi_axes": [4, 3, 2] }, "material": "InAs" }
        ],
        "potentials": [
            { "type": "harmonic", "hbar_omega": 0.01, "mass": 0.067, "axes": ["x", "y"] },
            { "type": "harmonic", "spring_constant": 0.001, "center": [1, 1, 0] },
            { "type": "gaussian", "depth": 0.1, "sigma": [3, 3, 2], "center": [0, 0] },
            { "type": "square_well", "depth": -0.05, "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 2 } },
            { "type": "file", "path": "v.npy", "scale": 0.5 }
        ],
        "solve": { "states": 6, "carrier": "heavy_hole", "tolerance": 1e-8, "max_iterations": 5000, "backend": "cpu" },
        "output": { "npy": true, "vtk": false, "plots": false, "wavefunctions": true }
    })
}

/// Parse and validate and, for a scene that passes on a small grid, build the problem and
/// the Hamiltonian; a panic anywhere fails the property. (The external files the base
/// scene names do not exist, so they are dropped before building.)
fn check(text: &str) {
    if let Ok(mut scene) = parse_scene(text) {
        if validate(&scene).is_ok() {
            scene.materials_file = None;
            scene.potentials.retain(|p| !matches!(p, qdsim_gpu::scene::Potential::File { .. }));
            let small = qdsim_gpu::grid::Grid::from_domain(&scene.domain).map(|g| g.len() <= 100_000).unwrap_or(false);
            if small {
                let loaded = qdsim_gpu::scene::LoadedScene { scene, path: "fuzz.json".into(), base_dir: ".".into() };
                if let Ok(p) = qdsim_gpu::pipeline::prepare(&loaded, 1) {
                    let h = p.hamiltonian();
                    assert!(h.asymmetry() == 0.0 && h.val.iter().all(|v| v.is_finite()));
                }
            }
        }
    }
}

/// Every node of a JSON tree, as a list of steps (object key or array index) from the root.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                prefix.push(Step::Key(k.clone()));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    let mut cur = v;
    for s in path {
        cur = match s {
            Step::Key(k) => cur.get_mut(k.as_str()).unwrap(),
            Step::Index(i) => cur.get_mut(*i).unwrap(),
        };
    }
    cur
}

/// Numbers that stress the checks: zero, negative, tiny, huge, integers beyond usize.
fn wild_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-0.0)),
        Just(json!(-1)),
        Just(json!(1)),
        Just(json!(1e-300)),
        Just(json!(-1e-300)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(f64::MAX)),
        Just(json!(f64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(4_294_967_296u64)),
        any::<f64>().prop_map(|x| if x.is_finite() { json!(x) } else { json!(1e308) }),
        any::<i64>().prop_map(|x| json!(x)),
        (-100.0..100.0f64).prop_map(|x| json!(x)),
    ]
}

fn wild_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        wild_number(),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "[a-z_]{0,12}".prop_map(Value::String),
        Just(json!("")),
        Just(json!("électron ψ")),
        Just(json!([])),
        Just(json!({})),
        prop::collection::vec(wild_number(), 0..5).prop_map(Value::Array),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete,
    Replace(Value),
    RenameKey(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Delete),
        wild_value().prop_map(Mutation::Replace),
        "[a-z_]{1,10}".prop_map(Mutation::RenameKey),
    ]
}

fn apply(v: &mut Value, path: &[Step], m: &Mutation) {
    let Some((last, parent_path)) = path.split_last() else {
        if let Mutation::Replace(r) = m {
            *v = r.clone();
        }
        return;
    };
    let parent = node(v, parent_path);
    match (m, last, parent) {
        (Mutation::Delete, Step::Key(k), Value::Object(o)) => {
            o.remove(k);
        }
        (Mutation::Delete, Step::Index(i), Value::Array(a)) => {
            a.remove(*i);
        }
        (Mutation::RenameKey(n), Step::Key(k), Value::Object(o)) => {
            if let Some(x) = o.remove(k) {
                o.insert(n.clone(), x);
            }
        }
        (Mutation::Replace(r), Step::Key(k), Value::Object(o)) => {
            o.insert(k.clone(), r.clone());
        }
        (Mutation::Replace(r), Step::Index(i), Value::Array(a)) => {
            a[*i] = r.clone();
        }
        _ => {}
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        wild_number(),
        "[a-z_]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("domain".to_string()),
                    Just("size".to_string()),
                    Just("spacing".to_string()),
                    Just("background".to_string()),
                    Just("material".to_string()),
                    Just("regions".to_string()),
                    Just("shape".to_string()),
                    Just("type".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// 1 to 4 structural mutations of a valid scene.
    #[test]
    fn mutated_scene_never_panics(picks in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..5)) {
        let mut v = valid();
        for (ix, m) in &picks {
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            let p = ix.get(&all).clone();
            apply(&mut v, &p, m);
        }
        check(&v.to_string());
    }

    /// Truncation at a random byte and insertion of random bytes into the text.
    #[test]
    fn damaged_text_never_panics(
        cut in any::<prop::sample::Index>(),
        inserts in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..8)), 0..4),
        truncate in any::<bool>(),
    ) {
        let mut bytes = serde_json::to_vec_pretty(&valid()).unwrap();
        for (at, junk) in &inserts {
            let i = at.index(bytes.len() + 1);
            bytes.splice(i..i, junk.iter().copied());
        }
        if truncate {
            let n = cut.index(bytes.len() + 1);
            bytes.truncate(n);
        }
        check(&String::from_utf8_lossy(&bytes));
    }

    /// Arbitrary JSON values, with a scene-like vocabulary of keys.
    #[test]
    fn random_json_never_panics(v in arb_json()) {
        check(&v.to_string());
    }
}

/// The unmutated base is valid, so the mutations start from the accepting path.
#[test]
fn base_is_valid() {
    let s = parse_scene(&valid().to_string()).unwrap();
    validate(&s).unwrap();
}

// ---- file inputs (issue 11) ----

/// What a fuzzed input file is.
#[derive(Clone, Debug)]
enum FileKind {
    Missing,
    Empty,
    Folder,
    DevNull,
    LinkToDevZero,
    Fifo,
    /// Random bytes.
    Bytes(Vec<u8>),
    /// A sparse file of this many bytes (zeros).
    Sparse(u64),
    /// A .npy with this declared shape and this many f8 values after the header.
    Npy(Vec<u64>, usize),
    /// A right file cut after this fraction of its bytes.
    Truncated(f64),
    /// A materials file setting GaAs's `me` to this number (right only in [0.001, 10]).
    MaterialMe(f64),
    /// The right file.
    Right,
}

fn file_kind() -> impl Strategy<Value = FileKind> {
    prop_oneof![
        Just(FileKind::Missing),
        Just(FileKind::Empty),
        Just(FileKind::Folder),
        Just(FileKind::DevNull),
        Just(FileKind::LinkToDevZero),
        Just(FileKind::Fifo),
        prop::collection::vec(any::<u8>(), 0..2000).prop_map(FileKind::Bytes),
        (0u64..40 << 20).prop_map(FileKind::Sparse),
        (prop::collection::vec(prop_oneof![Just(20u64), 0u64..30, Just(u64::MAX / 2)], 0..4), 0usize..40).prop_map(|(s, n)| FileKind::Npy(s, n)),
        (0.0..1.0f64).prop_map(FileKind::Truncated),
        prop_oneof![Just(1e-300), Just(0.0), Just(-1.0), Just(1e300), Just(0.067), Just(20.0), 1e-4..20.0f64].prop_map(FileKind::MaterialMe),
        Just(FileKind::Right),
    ]
}

/// A .npy (version 1, <f8, Fortran order) of declared `shape` with `values` values.
fn npy_bytes(shape: &[u64], values: usize) -> Vec<u8> {
    let shape = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut b = common::npy_header(&shape);
    for i in 0..values {
        b.extend_from_slice(&(i as f64 * 1e-3).to_le_bytes());
    }
    b
}

const RIGHT_MATERIALS: &str = r#"{"binaries": {"GaAs": {"me": 0.07}}}"#;

/// Make `path` the file `kind` describes; returns whether it is a right input. `npy` says
/// whether it is the potential (a .npy of 20 cells) or the materials file.
fn make(path: &std::path::Path, kind: &FileKind, npy: bool) -> bool {
    let right = if npy { npy_bytes(&[20], 20) } else { RIGHT_MATERIALS.as_bytes().to_vec() };
    match kind {
        FileKind::Missing => false,
        FileKind::Empty => {
            std::fs::write(path, b"").unwrap();
            false
        }
        FileKind::Folder => {
            std::fs::create_dir(path).unwrap();
            false
        }
        FileKind::DevNull => {
            std::os::unix::fs::symlink("/dev/null", path).unwrap();
            false
        }
        FileKind::LinkToDevZero => {
            std::os::unix::fs::symlink("/dev/zero", path).unwrap();
            false
        }
        FileKind::Fifo => {
            if !common::mkfifo(path) {
                std::os::unix::fs::symlink("/dev/zero", path).unwrap();
            }
            false
        }
        FileKind::Bytes(b) => {
            std::fs::write(path, b).unwrap();
            if npy {
                b == &right
            } else {
                serde_json::from_slice::<serde_json::Map<String, Value>>(b).is_ok_and(|m| m.is_empty())
            }
        }
        FileKind::Sparse(n) => {
            std::fs::File::create(path).unwrap().set_len(*n).unwrap();
            false
        }
        FileKind::Npy(shape, values) => {
            let b = npy_bytes(shape, *values);
            std::fs::write(path, &b).unwrap();
            npy && b == right
        }
        FileKind::Truncated(f) => {
            let n = ((right.len() as f64) * f) as usize;
            std::fs::write(path, &right[..n.min(right.len() - 1)]).unwrap();
            false
        }
        FileKind::MaterialMe(me) => {
            std::fs::write(path, format!(r#"{{"binaries": {{"GaAs": {{"me": {}}}}}}}"#, json!(me))).unwrap();
            !npy && (1e-3..=10.0).contains(me)
        }
        FileKind::Right => {
            std::fs::write(path, &right).unwrap();
            true
        }
    }
}

/// A short description of a kind for messages (random bytes by their length only).
fn short(k: &FileKind) -> String {
    match k {
        FileKind::Bytes(b) => format!("Bytes({} random bytes)", b.len()),
        other => format!("{other:?}"),
    }
}

/// Run the binary on a 20-cell scene naming the two files; check the outcome.
fn check_files(materials: &FileKind, potential: &FileKind) {
    let kinds = (materials, potential);
    let (materials, potential) = (&short(materials), &short(potential));
    use std::time::{Duration, Instant};
    let d = common::tmpdir("fuzz", "files");
    let right_m = make(&d.join("m.json"), kinds.0, false);
    let right_v = make(&d.join("v.npy"), kinds.1, true);
    let scene = d.join("scene.json");
    std::fs::write(
        &scene,
        json!({
            "domain": { "size": [20], "spacing": 1 }, "background": { "material": "GaAs" },
            "materials_file": "m.json", "potentials": [ { "type": "file", "path": "v.npy", "scale": 0.1 } ],
            "solve": { "states": 1, "backend": "cpu" }, "output": { "plots": false, "vtk": false }
        })
        .to_string(),
    )
    .unwrap();
    let out = d.join("out");
    let mut child = common::bin()
        .args(["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(30) {
            child.kill().ok();
            let _ = child.wait();
            panic!("{materials} / {potential}: still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = child.wait_with_output().unwrap();
    let t = common::text(&o);
    assert!(!t.contains("panicked"), "{materials} / {potential}: {t}");
    if right_m && right_v {
        assert_eq!(o.status.code(), Some(0), "{materials} / {potential}: {t}");
        assert!(out.join("results.json").exists());
    } else {
        assert_eq!(o.status.code(), Some(2), "{materials} / {potential}: {t}");
        let first = t.lines().next().unwrap_or("");
        assert!(first.starts_with("error: invalid input at `") && t.lines().count() == 1, "{materials} / {potential}: {t}");
        // the field, or the materials file itself (by its name, or its path for what its
        // text holds)
        let named = first.contains("`materials_file`") || first.contains("m.json`") || first.contains("`m.json:") || first.contains("`potentials[0].path`");
        assert!(named, "{materials} / {potential}: the input is not named: {t}");
        assert!(first.len() < 400, "{t}");
        assert!(!out.exists(), "{materials} / {potential}: output written on an error");
    }
    std::fs::remove_dir_all(&d).ok();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random kinds of materials and potential files through the binary.
    #[test]
    fn file_inputs_exit_2_never_hang(materials in file_kind(), potential in file_kind()) {
        check_files(&materials, &potential);
    }
}

/// Every kind at least once, each with the other file right.
#[test]
fn every_file_kind_is_handled() {
    let kinds = [
        FileKind::Missing,
        FileKind::Empty,
        FileKind::Folder,
        FileKind::DevNull,
        FileKind::LinkToDevZero,
        FileKind::Fifo,
        FileKind::Bytes(vec![0; 100]),
        FileKind::Sparse(17 << 20),
        FileKind::Npy(vec![20], 19),
        FileKind::Npy(vec![u64::MAX / 2], 20),
        FileKind::Npy(vec![4, 5], 20),
        FileKind::Truncated(0.5),
        FileKind::MaterialMe(1e-300),
        FileKind::Right,
    ];
    for k in &kinds {
        check_files(k, &FileKind::Right);
        check_files(&FileKind::Right, k);
    }
}
