use super::*;

fn db() -> MaterialDb {
    MaterialDb::builtin()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn embedded_database_parses() {
    let db = db();
    let names = db.names();
    for n in ["GaAs", "AlAs", "InAs", "InP", "GaP", "GaSb", "AlSb", "InSb"] {
        assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        assert!(!db.is_alloy(n));
    }
    for n in [
        "AlGaAs", "InGaAs", "InAlAs", "GaAsP", "InGaP", "AlGaSb", "InAsSb",
    ] {
        assert!(names.contains(&n.to_string()), "{n} missing");
        assert!(db.is_alloy(n));
    }
    // binaries first, then alloys, each sorted
    assert_eq!(names[0], "AlAs");
    let first_alloy = names.iter().position(|n| db.is_alloy(n)).unwrap();
    assert!(names[..first_alloy].iter().all(|n| !db.is_alloy(n)));
    assert!(names[first_alloy..].iter().all(|n| db.is_alloy(n)));
}

#[test]
fn builtin_values_are_the_published_ones() {
    let db = db();
    let g = db.resolve("GaAs", None).unwrap();
    assert_eq!(
        (g.me, g.eg0, g.alpha, g.beta, g.vbo, g.eps_r, g.a_lc),
        (0.067, 1.519, 5.405e-4, 204.0, -0.80, 12.9, 5.65325)
    );
    let i = db.resolve("InAs", None).unwrap();
    assert_eq!(
        (i.me, i.eg0, i.alpha, i.beta, i.vbo, i.eps_r),
        (0.026, 0.417, 2.76e-4, 93.0, -0.59, 15.15)
    );
    let a = db.resolve("AlAs", None).unwrap();
    assert_eq!(
        (a.me, a.eg0, a.alpha, a.beta, a.vbo, a.eps_r),
        (0.15, 3.099, 8.85e-4, 530.0, -1.33, 10.06)
    );
    assert_eq!(db.resolve("InSb", None).unwrap().vbo, 0.0);
}

#[test]
fn hole_masses_match_luttinger_parameters() {
    let db = db();
    for b in db.binaries.values() {
        let (g1, g2) = b.gamma.expect("built-in binaries carry gamma1/gamma2");
        let m = db.resolve(&b.name, None).unwrap();
        assert!(close(m.mhh, 1.0 / (g1 - 2.0 * g2), 1e-4), "{} mhh", b.name);
        assert!(close(m.mlh, 1.0 / (g1 + 2.0 * g2), 1e-4), "{} mlh", b.name);
    }
    let g = db.resolve("GaAs", None).unwrap();
    assert!(close(g.mhh, 1.0 / 2.86, 1e-4) && close(g.mlh, 1.0 / 11.1, 1e-4));
}

#[test]
fn every_builtin_entry_has_sources_that_resolve() {
    let db = db();
    for n in db.names() {
        for (p, _, _) in PROPERTIES {
            let s = db
                .source_of(&n, p)
                .unwrap_or_else(|| panic!("{n}.{p} has no source"));
            let key = s.split(':').next().unwrap().trim();
            assert!(
                db.citations().contains_key(key),
                "{n}.{p}: source key '{key}' not in sources"
            );
        }
    }
}

#[test]
fn gaas_gap_at_300k() {
    let g = db().resolve("gaas", None).unwrap();
    let expect = 1.519 - 5.405e-4 * 300.0 * 300.0 / (300.0 + 204.0);
    assert!(close(g.band_gap(300.0), expect, 1e-12));
    assert!(
        close(g.band_gap(300.0), 1.4225, 1e-4),
        "{}",
        g.band_gap(300.0)
    );
    assert_eq!(g.band_gap(0.0), 1.519);
    assert!(close(g.ec(300.0), -0.80 + expect, 1e-12));
    assert_eq!(g.ev(300.0), -0.80);
}

#[test]
fn band_edge_convention() {
    let g = db().resolve("GaAs", None).unwrap();
    assert_eq!(g.band_edge(Carrier::Electron, 4.0), g.ec(4.0));
    assert_eq!(g.band_edge(Carrier::HeavyHole, 4.0), 0.80);
    assert_eq!(g.band_edge(Carrier::LightHole, 4.0), 0.80);
    assert_eq!(g.mass(Carrier::Electron), 0.067);
    assert_eq!(g.mass(Carrier::HeavyHole), g.mhh);
    assert_eq!(g.mass(Carrier::LightHole), g.mlh);
    // GaAs in AlGaAs is a well for electrons AND for holes in carrier-energy terms.
    let b = db().resolve("AlGaAs", Some(0.3)).unwrap();
    for c in Carrier::ALL {
        assert!(g.band_edge(c, 4.0) < b.band_edge(c, 4.0), "{c:?}");
    }
    let json = serde_json::to_string(&Carrier::HeavyHole).unwrap();
    assert_eq!(json, "\"heavy_hole\"");
}

#[test]
fn algaas_conduction_band_offset() {
    let db = db();
    let b = db.resolve("AlGaAs", Some(0.3)).unwrap();
    let g = db.resolve("GaAs", None).unwrap();
    assert_eq!(b.name, "Al0.30Ga0.70As");
    assert_eq!(b.x, Some(0.3));
    // Eg0(0.3) = 0.3·3.099 + 0.7·1.519 − 0.21·(−0.127 + 1.310·0.3) = 1.93714 eV
    assert!(close(b.eg0, 1.93714, 1e-5), "{}", b.eg0);
    // VBO linear: −0.959 eV
    assert!(close(b.vbo, -0.959, 1e-9));
    let dec = b.ec(4.0) - g.ec(4.0);
    let dev = g.ev(4.0) - b.ev(4.0);
    // With Vurgaftman's parameters: ΔEc = 0.259 eV, ΔEv = 0.159 eV (62:38 split).
    assert!(close(dec, 0.2591, 2e-3), "ΔEc = {dec}");
    assert!(close(dev, 0.159, 1e-6), "ΔEv = {dev}");
    assert!(dec > 0.2 && dec < 0.32);
}

#[test]
fn inas_gaas_conduction_band_offset() {
    let db = db();
    let i = db.resolve("InAs", None).unwrap();
    let g = db.resolve("GaAs", None).unwrap();
    // Unstrained: Ec(GaAs) − Ec(InAs) = (−0.80 + 1.519) − (−0.59 + 0.417) = 0.892 eV at 0 K.
    assert!(close(g.ec(0.0) - i.ec(0.0), 0.892, 1e-9));
    let d4 = g.ec(4.0) - i.ec(4.0);
    assert!(close(d4, 0.892, 1e-3), "{d4}");
    // Valence band: InAs VBM is above GaAs (holes also bound in InAs).
    assert!(close(i.ev(4.0) - g.ev(4.0), 0.21, 1e-9));
}

#[test]
fn ingaas_bowing() {
    let m = db().resolve("InGaAs", Some(0.53)).unwrap();
    let x: f64 = 0.53;
    let e = x * 0.417 + (1.0 - x) * 1.519 - x * (1.0 - x) * 0.477;
    assert!(close(m.eg0, e, 1e-12));
    // InGaAs lattice-matched to InP has Eg(300 K) close to 0.74 eV.
    assert!(
        close(m.band_gap(300.0), 0.74, 0.03),
        "{}",
        m.band_gap(300.0)
    );
    assert!(close(
        m.me,
        x * 0.026 + (1.0 - x) * 0.067 - x * (1.0 - x) * 0.0091,
        1e-12
    ));
    assert_eq!(m.name, "In0.53Ga0.47As");
}

#[test]
fn alloy_endpoints_equal_binaries() {
    let db = db();
    for n in db.names().into_iter().filter(|n| db.is_alloy(n)) {
        let (a, b, _) = db.alloy_endpoints(&n).unwrap();
        let ma = db.resolve(&a, None).unwrap();
        let mb = db.resolve(&b, None).unwrap();
        let m1 = db.resolve(&n, Some(1.0)).unwrap();
        let m0 = db.resolve(&n, Some(0.0)).unwrap();
        for (p, _, _) in PROPERTIES {
            assert!(
                close(m1.get(p).unwrap(), ma.get(p).unwrap(), 1e-12),
                "{n} x=1 {p}"
            );
            assert!(
                close(m0.get(p).unwrap(), mb.get(p).unwrap(), 1e-12),
                "{n} x=0 {p}"
            );
        }
        // and a mid-composition is physical
        let mid = db.resolve(&n, Some(0.5)).unwrap();
        assert!(mid.me > 0.0 && mid.mhh > 0.0 && mid.mlh > 0.0 && mid.eg0 > 0.0);
    }
}

#[test]
fn resolve_errors() {
    let db = db();
    let e = db.resolve("GaAz", None).unwrap_err();
    assert!(
        e.contains("unknown material 'GaAz'") && e.contains("GaAs") && e.contains("AlGaAs"),
        "{e}"
    );
    let e = db.resolve("AlGaAs", Some(1.2)).unwrap_err();
    assert!(e.contains("alloy fraction x = 1.2 outside [0, 1]"), "{e}");
    let e = db.resolve("AlGaAs", Some(-0.1)).unwrap_err();
    assert!(e.contains("outside [0, 1]"), "{e}");
    assert!(db.resolve("AlGaAs", Some(f64::NAN)).is_err());
    let e = db.resolve("AlGaAs", None).unwrap_err();
    assert!(e.contains("AlGaAs is an alloy and needs \"x\""), "{e}");
    let e = db.resolve("GaAs", Some(0.3)).unwrap_err();
    assert!(e.contains("binary") && e.contains("\"x\""), "{e}");
    // case-insensitive
    assert_eq!(
        db.resolve("ALGAAS", Some(0.3)).unwrap().name,
        "Al0.30Ga0.70As"
    );
    assert_eq!(db.resolve("inas", None).unwrap().name, "InAs");
}

#[test]
fn merge_overrides_a_field() {
    let mut db = db();
    db.merge_json(r#"{"binaries": {"GaAs": {"me": 0.0665}}}"#, "mats.json")
        .unwrap();
    let g = db.resolve("GaAs", None).unwrap();
    assert_eq!(g.me, 0.0665);
    assert_eq!(g.eg0, 1.519); // untouched fields kept
    assert!(db.source_of("GaAs", "me").unwrap().contains("mats.json"));
    assert!(db
        .source_of("GaAs", "eg0")
        .unwrap()
        .contains("vurgaftman2001"));
    // alloys use the overridden binary
    let a = db.resolve("AlGaAs", Some(0.0)).unwrap();
    assert_eq!(a.me, 0.0665);
}

#[test]
fn merge_adds_binary_and_alloy() {
    let mut db = db();
    let json = r#"{
        "sources": {"me2024": "My own measurement"},
        "binaries": {
            "MyMat": {"me": 0.05, "gamma1": 7.0, "gamma2": 2.0, "eg0": 1.2, "alpha": 4e-4,
                      "beta": 200, "vbo": -0.7, "eps_r": 13.0, "a_lc": 5.9, "source": "me2024"}
        },
        "alloys": {
            "MyGaAs": {"a": "MyMat", "b": "gaas", "display": "My{x}Ga{1-x}As",
                       "bowing": {"eg0": 0.1, "me": {"c0": 0.01, "c1": 0.002}}}
        }
    }"#;
    db.merge_json(json, "scene_mats.json").unwrap();
    let m = db.resolve("mymat", None).unwrap();
    assert!(close(m.mhh, 1.0 / 3.0, 1e-12) && close(m.mlh, 1.0 / 11.0, 1e-12));
    let a = db.resolve("MyGaAs", Some(0.25)).unwrap();
    assert_eq!(a.name, "My0.25Ga0.75As");
    let b = 0.01 + 0.002 * 0.25;
    assert!(close(
        a.me,
        0.25 * 0.05 + 0.75 * 0.067 - 0.25 * 0.75 * b,
        1e-12
    ));
    assert!(db.is_alloy("mygaas"));
    let d = describe(&db, Some("MyMat"), None, 300.0).unwrap();
    assert!(d.contains("My own measurement"), "{d}");
}

fn input_err(r: Result<()>) -> (String, String) {
    match r {
        Err(QdError::Input { path, reason }) => (path, reason),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn merge_errors_name_the_field() {
    let mut db = db();
    let (p, r) =
        input_err(db.merge_json(r#"{"binaries": {"GaAs": {"me": -0.1}}}"#, "materials_file"));
    assert_eq!(p, "materials_file:GaAs.me");
    assert!(r.contains("[0.001, 10] m0") && r.contains("-0.1"), "{r}");
    assert_eq!(
        db.resolve("GaAs", None).unwrap().me,
        0.067,
        "a failed merge changes nothing"
    );

    let (p, _) = input_err(db.merge_json(
        r#"{"binaries": {"MyMat": {"me": 0.05, "mhh": 0.5, "mlh": 0.08, "eg0": 1.0, "alpha": 0, "beta": 0, "vbo": 0, "eps_r": 0, "a_lc": 5.6}}}"#,
        "materials_file",
    ));
    assert_eq!(p, "materials_file:MyMat.eps_r");
    let (p, r) = input_err(db.merge_json(r#"{"binaries": {"MyMat": {"me": 0.05}}}"#, "m.json"));
    assert!(p.starts_with("m.json:MyMat."), "{p}");
    assert!(r.contains("missing"), "{r}");
    let (p, _) = input_err(db.merge_json(r#"{"binaries": {"GaAs": {"eg0": "big"}}}"#, "m.json"));
    assert_eq!(p, "m.json:GaAs.eg0");
    let (p, _) = input_err(db.merge_json(r#"{"binaries": {"GaAs": {"mee": 0.07}}}"#, "m.json"));
    assert_eq!(p, "m.json:GaAs.mee");
    let (p, _) = input_err(db.merge_json(
        r#"{"binaries": {"GaAs": {"gamma1": 4.0, "gamma2": 2.5}}}"#,
        "m.json",
    ));
    assert_eq!(p, "m.json:GaAs.gamma2");
    let (p, r) =
        input_err(db.merge_json(r#"{"alloys": {"X": {"a": "GaAz", "b": "GaAs"}}}"#, "m.json"));
    assert_eq!(p, "m.json:X.a");
    assert!(r.contains("unknown binary 'GaAz'"), "{r}");
    let (p, _) = input_err(db.merge_json(
        r#"{"alloys": {"AlGaAs": {"bowing": {"gap": 0.1}}}}"#,
        "m.json",
    ));
    assert_eq!(p, "m.json:AlGaAs.bowing.gap");
    // a bowing that makes the alloy unphysical is caught at merge
    let (p, r) = input_err(db.merge_json(
        r#"{"alloys": {"AlGaAs": {"bowing": {"me": 2.0}}}}"#,
        "m.json",
    ));
    assert_eq!(p, "m.json:AlGaAs");
    assert!(r.contains("me"), "{r}");
    let (p, _) = input_err(db.merge_json(r#"{"materials": {}}"#, "m.json"));
    assert_eq!(p, "m.json:materials");
    let (p, r) = input_err(db.merge_json("{not json", "m.json"));
    assert_eq!(p, "m.json");
    assert!(r.contains("JSON"));
    let (p, _) = input_err(db.merge_json(r#"{"binaries": {"AlGaAs": {"me": 0.1}}}"#, "m.json"));
    assert_eq!(p, "m.json:AlGaAs");
}

#[test]
fn merge_file_reads_and_reports_io() {
    let dir = std::env::temp_dir().join(format!("qdsim_mat_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("my_materials.json");
    std::fs::write(&f, r#"{"binaries": {"InAs": {"me": 0.023}}}"#).unwrap();
    let mut db = db();
    db.merge_file(&f).unwrap();
    assert_eq!(db.resolve("InAs", None).unwrap().me, 0.023);
    std::fs::write(&f, r#"{"binaries": {"InAs": {"me": 0}}}"#).unwrap();
    let (p, _) = input_err(db.merge_file(&f));
    assert_eq!(p, "my_materials.json:InAs.me");
    // a missing file, a folder, a device: input errors (exit 2) naming the file (issue 11)
    let (p, r) = input_err(db.merge_file(&dir.join("nope.json")));
    assert!(p.ends_with("nope.json") && r.contains("does not exist"), "{p}: {r}");
    let (p, r) = input_err(db.merge_file(&dir));
    assert_eq!(p, dir.display().to_string());
    assert!(r.contains("folder"), "{r}");
    #[cfg(unix)]
    {
        let (_, r) = input_err(db.merge_file(std::path::Path::new("/dev/zero")));
        assert!(r.contains("character device"), "{r}");
    }
    // larger than MAX_MATERIALS_BYTES (a sparse file: nothing is written)
    let big = dir.join("big.json");
    std::fs::File::create(&big).unwrap().set_len(crate::output::files::MAX_MATERIALS_BYTES + 1).unwrap();
    let (_, r) = input_err(db.merge_file(&big));
    assert!(r.contains("16.0 MiB"), "{r}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn describe_lists_and_details() {
    let db = db();
    let all = describe(&db, None, None, 300.0).unwrap();
    for n in db.names() {
        assert!(all.contains(&n), "{n} missing from listing");
    }
    assert!(all.contains("Al0.30Ga0.70As"));
    assert!(all.contains("[eV]") && all.contains("[m0]"));
    assert!(all.contains("-0.127 + 1.31x"), "{all}");
    let one = describe(&db, Some("gaas"), None, 300.0).unwrap();
    assert!(
        one.contains("1.42") && one.contains("Vurgaftman") && one.contains("eps_r"),
        "{one}"
    );
    let al = describe(&db, Some("AlGaAs"), Some(0.2), 77.0).unwrap();
    assert!(
        al.contains("Al0.20Ga0.80As") && al.contains("AlAs") && al.contains("GaAs"),
        "{al}"
    );
    let ex = describe(&db, Some("InGaAs"), None, 300.0).unwrap();
    assert!(ex.contains("example"));
    assert!(describe(&db, Some("GaAz"), None, 300.0)
        .unwrap_err()
        .contains("unknown material"));
    assert!(describe(&db, Some("GaAs"), Some(0.1), 300.0).is_err());
    assert!(describe(&db, Some("AlGaAs"), Some(2.0), 300.0).is_err());
    assert!(describe(&db, None, None, -1.0).is_err());
}

#[test]
fn display_fraction_format() {
    assert_eq!(fmt_frac(0.3), "0.30");
    assert_eq!(fmt_frac(1.0 - 0.3), "0.70");
    assert_eq!(fmt_frac(0.305), "0.305");
    assert_eq!(fmt_frac(0.0), "0.00");
    assert_eq!(fmt_frac(1.0), "1.00");
}

#[test]
#[ignore]
fn print_describe() {
    let db = db();
    println!("{}", describe(&db, None, None, 300.0).unwrap());
    println!("{}", describe(&db, Some("AlGaAs"), None, 4.0).unwrap());
}

// ---- issue 11: physical ranges, strict JSON, temperatures ----

#[test]
fn every_builtin_material_is_inside_the_ranges() {
    let db = db();
    for n in db.names() {
        let xs: Vec<Option<f64>> = if db.is_alloy(&n) { (0..=100).map(|k| Some(k as f64 / 100.0)).collect() } else { vec![None] };
        for x in xs {
            let m = db.resolve(&n, x).unwrap_or_else(|e| panic!("{n} at {x:?}: {e}"));
            for (i, (p, _, _)) in PROPERTIES.iter().enumerate() {
                let v = m.get(p).unwrap();
                let (lo, hi, _) = RANGES[i];
                assert!(v >= lo && v <= hi, "{n} {x:?} {p} = {v}");
            }
            // and every one has a gap at room temperature
            m.check_temperature(300.0).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn out_of_range_parameters_name_the_field() {
    let mut db = db();
    // me = 1e-300 gave NaN energies called converged
    let (p, r) = input_err(db.merge_json(r#"{"binaries": {"GaAs": {"me": 1e-300}}}"#, "m.json"));
    assert_eq!(p, "m.json:GaAs.me");
    assert!(r.contains("1e-300") && r.contains("[0.001, 10] m0"), "{r}");
    let cases = [
        (r#"{"binaries": {"GaAs": {"mhh": 50}}}"#, "m.json:GaAs.mhh", "[0.001, 10] m0"),
        (r#"{"binaries": {"GaAs": {"eg0": 0}}}"#, "m.json:GaAs.eg0", "(0, 10] eV"),
        (r#"{"binaries": {"GaAs": {"eg0": 12}}}"#, "m.json:GaAs.eg0", "(0, 10] eV"),
        (r#"{"binaries": {"GaAs": {"alpha": -1e-4}}}"#, "m.json:GaAs.alpha", "[0, 0.01] eV/K"),
        (r#"{"binaries": {"GaAs": {"beta": -10}}}"#, "m.json:GaAs.beta", "[0, 10000] K"),
        (r#"{"binaries": {"GaAs": {"vbo": 1e300}}}"#, "m.json:GaAs.vbo", "1e300"),
        (r#"{"binaries": {"GaAs": {"eps_r": 0.5}}}"#, "m.json:GaAs.eps_r", "[1, 100]"),
        (r#"{"binaries": {"GaAs": {"eps_r": 1e5}}}"#, "m.json:GaAs.eps_r", "100000"),
        (r#"{"binaries": {"GaAs": {"a_lc": 0}}}"#, "m.json:GaAs.a_lc", "[1, 20] Å"),
        (r#"{"binaries": {"GaAs": {"gamma1": 1e6, "gamma2": 1}}}"#, "m.json:GaAs.mhh", "[0.001, 10] m0"),
        (r#"{"alloys": {"AlGaAs": {"bowing": {"eg0": 1e5}}}}"#, "m.json:AlGaAs.bowing.eg0", "beyond ±40"),
        (r#"{"alloys": {"AlGaAs": {"bowing": {"me": {"c0": 0, "c1": -1e300}}}}}"#, "m.json:AlGaAs.bowing.me", "1e300"),
    ];
    for (json, want, word) in cases {
        let (p, r) = input_err(db.merge_json(json, "m.json"));
        assert_eq!(p, want, "{json}: {r}");
        assert!(r.contains(word), "{json}: {r}");
        assert!(r.len() < 300, "{r}");
    }
    // a composition-dependent bowing that is fine at x = 0, 0.5 and 1 (checked at merge) but
    // not at x = 0.9: the value at the requested x is checked when the alloy is resolved
    db.merge_json(r#"{"alloys": {"AlGaAs": {"bowing": {"me": {"c0": -4, "c1": 8}}}}}"#, "m.json").unwrap();
    db.resolve("AlGaAs", Some(0.2)).unwrap();
    let e = db.resolve("AlGaAs", Some(0.9)).unwrap_err();
    assert!(e.contains("x = 0.9") && e.contains("me") && e.contains("[0.001, 10] m0"), "{e}");
}

#[test]
fn materials_json_is_strict() {
    let mut db = db();
    let cases = [
        ("\u{feff}{\"binaries\": {}}", "byte-order mark"),
        ("", "empty"),
        ("  \n", "empty"),
        ("[1, 2]", "found an array"),
        ("\"GaAs\"", "found a string"),
        ("{\"binaries\": {}} xyz", "unexpected text after the end"),
        ("{\"binaries\": {}}}}}", "unexpected text after the end"),
        ("{\"binaries\": {}}\0\0", "unexpected text after the end"),
    ];
    for (text, word) in cases {
        let (p, r) = input_err(db.merge_json(text, "m.json"));
        assert_eq!(p, "m.json", "{text:?}");
        assert!(r.contains(word), "{text:?}: {r}");
    }
}

#[test]
fn gap_must_stay_open_at_the_temperature() {
    let db = db();
    let insb = db.resolve("InSb", None).unwrap();
    insb.check_temperature(300.0).unwrap();
    // the Varshni law of InSb crosses zero near 900 K
    let e = insb.check_temperature(1000.0).unwrap_err();
    assert!(e.contains("InSb") && e.contains("no band gap") && e.contains("1000 K"), "{e}");
    let gaas = db.resolve("GaAs", None).unwrap();
    gaas.check_temperature(MAX_TEMPERATURE_K).unwrap();
    assert!(gaas.check_temperature(MAX_TEMPERATURE_K * 1.01).is_err());
    assert!(gaas.check_temperature(0.0).is_err());
    assert!(gaas.check_temperature(f64::NAN).is_err());
    // the materials command bounds its temperature the same way
    assert!(describe(&db, Some("GaAs"), None, 5000.0).unwrap_err().contains("[0, 1000] K"));
}

#[test]
fn strain_parameters_resolve_interpolate_and_cite() {
    let d = db();
    let g = d.resolve("GaAs", None).unwrap();
    let c = g.strain_constants(300.0).unwrap();
    assert_eq!((c.c11, c.c12, c.c44, c.a_c, c.a_v, c.b, c.d), (122.1, 56.6, 60.0, -7.17, -1.16, -2.0, -4.8));
    assert!(close(g.lattice_constant(0.0), 5.65325 - 3.88e-5 * 300.0, 1e-12));
    assert_eq!(g.strain_param("e14"), Some(-0.16));
    // InGaAs: linear elastic constants, a_c with VMR's bowing 2.61 eV
    let m = d.resolve("InGaAs", Some(0.25)).unwrap().strain_constants(300.0).unwrap();
    assert!(close(m.c11, 0.25 * 83.29 + 0.75 * 122.1, 1e-9));
    assert!(close(m.a_c, 0.25 * -5.08 + 0.75 * -7.17 - 0.25 * 0.75 * 2.61, 1e-12));
    assert!(close(m.a_lc, 0.25 * 6.0583 + 0.75 * 5.65325, 1e-12));
    for b in ["GaAs", "AlAs", "InAs", "GaP", "InP", "GaSb", "AlSb", "InSb"] {
        let m = d.resolve(b, None).unwrap();
        assert!(m.strain_constants(300.0).is_ok(), "{b}");
        for p in ["c11", "c12", "c44", "a_c", "a_v", "b", "d", "a_lc_dt"] {
            let s = d.source_of(b, p).unwrap();
            assert!(s.starts_with("vurgaftman2001"), "{b}.{p}: {s}");
            assert!(d.expand_citation(&s).is_some(), "{b}.{p}: {s}");
        }
    }
}

#[test]
fn bad_strain_parameters_name_the_field() {
    for (json, field, what) in [
        (r#"{"binaries": {"GaAs": {"c11": 1.2e11}}}"#, "m.json:GaAs.c11", "[1, 1000] GPa"),
        (r#"{"binaries": {"GaAs": {"a_v": "x"}}}"#, "m.json:GaAs.a_v", "must be a number"),
        (r#"{"binaries": {"GaAs": {"c13": 1}}}"#, "m.json:GaAs.c13", "unknown field"),
        (r#"{"alloys": {"InGaAs": {"bowing": {"c44": 1e9}}}}"#, "m.json:InGaAs.bowing.c44", "beyond"),
    ] {
        let mut d = db();
        let (path, reason) = input_err(d.merge_json(json, "m.json"));
        assert_eq!(path, field, "{json}: {reason}");
        assert!(reason.contains(what), "{json}: {reason}");
    }
    // a material without elastic data resolves, and a strained scene is told which field
    let mut d = db();
    d.merge_json(r#"{"binaries": {"MyMat": {"me": 0.05, "mhh": 0.5, "mlh": 0.08, "eg0": 1.0, "alpha": 0, "beta": 0, "vbo": 0, "eps_r": 12, "a_lc": 5.6, "c11": 100, "c12": 50}}}"#, "m.json").unwrap();
    let (field, reason) = d.resolve("MyMat", None).unwrap().strain_constants(300.0).unwrap_err();
    assert_eq!(field, "c44");
    assert!(reason.contains("MyMat"), "{reason}");
}
