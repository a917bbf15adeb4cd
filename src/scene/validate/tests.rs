use super::*;
use crate::scene::parse_scene;
use serde_json::{json, Value};

/// A valid 3D scene using every shape and potential.
fn base() -> Value {
    json!({
        "name": "all shapes",
        "domain": { "size": [40, 40, 20], "spacing": 1.0, "periodic": [false, false, false] },
        "temperature": 77,
        "background": { "material": "AlGaAs", "x": 0.3 },
        "regions": [
            { "shape": { "type": "layer", "axis": "z", "from": -2, "to": 2 }, "material": "GaAs" },
            { "shape": { "type": "box", "min": [-5, -5, -1], "max": [5, 5, 1] }, "material": "InGaAs", "x": 0.2 },
            { "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 3 }, "material": "InAs" },
            { "shape": { "type": "cylinder", "center": [1, 0], "radius": 4, "height": 2 }, "material": "InAs" },
            { "shape": { "type": "cone", "base": [0, 0, -1], "base_radius": 5, "top_radius": 2, "height": 3 }, "material": "InAs" },
            { "shape": { "type": "pyramid", "base": [0, 0, -1], "base_width": 8, "height": 4, "axis": "z" }, "material": "InAs" },
            { "shape": { "type": "lens", "base": [0, 0, -1], "radius": 6, "height": 3 }, "material": "InAs" },
            { "shape": { "type": "ellipsoid", "center": [0, 0, 0], "semi_axes": [4, 3, 2] }, "material": "InAs" }
        ],
        "potentials": [
            { "type": "harmonic", "hbar_omega": 0.01, "mass": 0.067, "axes": ["x", "y"] },
            { "type": "harmonic", "spring_constant": 0.001, "center": [1, 1, 0] },
            { "type": "gaussian", "depth": 0.1, "sigma": [3, 3, 2] },
            { "type": "square_well", "depth": -0.05, "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 2 } },
            { "type": "file", "path": "v.npy", "scale": 0.5 }
        ],
        "solve": { "states": 6, "carrier": "heavy_hole", "tolerance": 1e-8, "max_iterations": 5000 },
        "output": { "npy": true, "vtk": false, "plots": false, "wavefunctions": true }
    })
}

fn run(v: &Value) -> Result<()> {
    let scene = parse_scene(&v.to_string())?;
    validate(&scene)
}

/// Apply `edit` to the base scene and return the error's (path, reason).
fn fails(edit: impl FnOnce(&mut Value)) -> (String, String) {
    let mut v = base();
    edit(&mut v);
    rejected(&v)
}

/// The (path, reason) of the input error `v` must give.
fn rejected(v: &Value) -> (String, String) {
    let e = run(v).expect_err("scene should be rejected");
    assert_eq!(e.exit_code(), 2, "{e}");
    match e {
        QdError::Input { path, reason } => (path, reason),
        other => panic!("not an input error: {other}"),
    }
}

fn path_of(edit: impl FnOnce(&mut Value)) -> String {
    fails(edit).0
}

#[test]
fn base_scene_is_valid() {
    run(&base()).unwrap();
}

#[test]
fn domain_rules() {
    assert_eq!(path_of(|v| v["domain"]["size"] = json!([])), "domain.size");
    assert_eq!(path_of(|v| v["domain"]["size"] = json!([1, 2, 3, 4])), "domain.size");
    let (p, r) = fails(|v| v["domain"]["size"] = json!([40, -4, 20]));
    assert_eq!(p, "domain.size[1]");
    assert!(r.contains("nm") && r.contains("-4"), "{r}");
    assert_eq!(path_of(|v| v["domain"]["size"][2] = json!(0.0)), "domain.size[2]");
    assert_eq!(path_of(|v| v["domain"]["spacing"] = json!(0)), "domain.spacing");
    assert_eq!(path_of(|v| v["domain"]["spacing"] = json!(-1.0)), "domain.spacing");
    assert_eq!(path_of(|v| v["domain"]["spacing"] = json!([1, 1])), "domain.spacing");
    assert_eq!(path_of(|v| v["domain"]["spacing"] = json!([1, 0, 1])), "domain.spacing[1]");
    assert_eq!(path_of(|v| v["domain"]["periodic"] = json!([true])), "domain.periodic");
    // fewer than 3 cells along an axis
    assert_eq!(path_of(|v| v["domain"]["spacing"] = json!(10.0)), "domain.spacing");
    // more cells than u32 indices allow: 2000^3 = 8e9
    let (p, r) = fails(|v| {
        v["domain"]["size"] = json!([2000, 2000, 2000]);
        v["domain"]["spacing"] = json!(1.0);
    });
    assert_eq!(p, "domain.spacing");
    assert!(r.contains("cells"), "{r}");
}

#[test]
fn temperature_rules() {
    for t in [json!(0), json!(-10), json!(5000), json!(1001)] {
        let (p, r) = fails(|v| v["temperature"] = t.clone());
        assert_eq!(p, "temperature");
        assert!(r.contains(" K"), "{r}");
    }
    let mut v = base();
    v["temperature"] = json!(1000);
    run(&v).unwrap();
    // the Schrödinger mode takes any T > 0 (T only enters the Varshni gap)
    v["temperature"] = json!(1e-300);
    run(&v).unwrap();
}

/// A 1D device scene (mode poisson) with a gate and two contacts.
fn device() -> Value {
    json!({
        "domain": { "size": [100], "spacing": 1.0 },
        "temperature": 300,
        "background": { "material": "GaAs", "doping": { "donors": 1e17 } },
        "contacts": [
            { "face": "x_min", "type": "ohmic", "voltage": 0.1 },
            { "face": "x_max", "type": "schottky", "voltage": -0.5, "barrier": 0.8 }
        ],
        "gates": [ { "shape": { "type": "layer", "axis": "x", "from": -5, "to": 5 }, "voltage": 0.2, "barrier": 0.7 } ],
        "solve": { "mode": "poisson" }
    })
}

fn device_fails(edit: impl FnOnce(&mut Value)) -> (String, String) {
    let mut v = device();
    edit(&mut v);
    rejected(&v)
}

#[test]
fn compact_numbers() {
    assert_eq!(fmt_num(1e300), "1e300");
    assert_eq!(fmt_num(-1e300), "-1e300");
    assert_eq!(fmt_num(1e-300), "1e-300");
    assert_eq!(fmt_num(f64::MAX), "1.7976931348623157e308");
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(0.3), "0.3");
    assert_eq!(fmt_num(-4.0), "-4");
    assert_eq!(fmt_num(300.0), "300");
    assert_eq!(fmt_num(1e17), "1e17");
    assert_eq!(fmt_num(2.5e-9), "2.5e-9");
    assert_eq!(fmt_num(f64::NAN), "NaN");
}

#[test]
fn more_regions_than_the_fill_numbers_hold_are_refused() {
    // 65 535 regions wrapped the 16-bit fill numbers silently (region 65 535 painted as the background)
    let (p, r) = fails(|v| {
        let one = v["regions"][0].clone();
        v["regions"] = Value::Array(vec![one; MAX_REGIONS + 1]);
    });
    assert_eq!(p, "regions");
    assert!(r.contains("65535 entries") && r.contains("at most 65534"), "{r}");
    let mut v = base();
    let one = v["regions"][0].clone();
    v["regions"] = Value::Array(vec![one; MAX_REGIONS]);
    run(&v).unwrap();
}

#[test]
fn device_temperature_voltage_and_doping_bounds() {
    run(&device()).unwrap();
    // the statistics cannot follow below 1 K: T = 1e-300 K failed inside neutral_potential
    for t in [json!(1e-300), json!(0.5)] {
        let (p, r) = device_fails(|v| v["temperature"] = t.clone());
        assert_eq!(p, "temperature");
        assert!(r.contains("at least 1 K") && r.contains("poisson"), "{r}");
    }
    let mut v = device();
    v["temperature"] = json!(1);
    run(&v).unwrap();
    // voltages: |V| ≤ 100 V, printed compactly
    let (p, r) = device_fails(|v| v["contacts"][0]["voltage"] = json!(1e300));
    assert_eq!(p, "contacts[0].voltage");
    assert!(r.contains("1e300 V") && r.contains("±100 V") && r.len() < 200, "{r}");
    assert_eq!(device_fails(|v| v["contacts"][1]["voltage"] = json!(-101)).0, "contacts[1].voltage");
    assert_eq!(device_fails(|v| v["gates"][0]["voltage"] = json!(250)).0, "gates[0].voltage");
    let mut v = device();
    v["contacts"][0]["voltage"] = json!(-100);
    run(&v).unwrap();
    // barriers: |barrier| ≤ 10 eV
    assert_eq!(device_fails(|v| v["contacts"][1]["barrier"] = json!(1e6)).0, "contacts[1].barrier");
    assert_eq!(device_fails(|v| v["gates"][0]["barrier"] = json!(-11)).0, "gates[0].barrier");
    // doping: 0, or 1e10 to 1e22 cm^-3
    let (p, r) = device_fails(|v| v["background"]["doping"]["donors"] = json!(1e5));
    assert_eq!(p, "background.doping.donors");
    assert!(r.contains("1e10") && r.contains("100000"), "{r}");
    assert_eq!(device_fails(|v| v["background"]["doping"]["acceptors"] = json!(1e-300)).0, "background.doping.acceptors");
    let (p, r) = device_fails(|v| v["background"]["doping"]["donors"] = json!(1e300));
    assert_eq!(p, "background.doping.donors");
    assert!(r.starts_with("1e300 cm^-3"), "{r}");
    let mut v = device();
    v["background"]["doping"] = json!({ "donors": 0, "acceptors": 1e10 });
    run(&v).unwrap();
}

#[test]
fn temperature_nan_from_code() {
    // JSON cannot hold NaN, but a scene built in code can
    let mut s = parse_scene(&base().to_string()).unwrap();
    s.temperature = f64::NAN;
    let e = validate(&s).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(matches!(e, QdError::Input { ref path, .. } if path == "temperature"));
    let mut s = parse_scene(&base().to_string()).unwrap();
    s.regions[2].shape = Shape::Sphere { center: vec![0.0, f64::INFINITY], radius: 1.0 };
    let e = validate(&s).unwrap_err();
    assert!(matches!(e, QdError::Input { ref path, .. } if path == "regions[2].shape.center[1]"), "{e}");
}

#[test]
fn materials_file_and_alloy_fraction() {
    assert_eq!(path_of(|v| v["materials_file"] = json!("")), "materials_file");
    let (p, r) = fails(|v| v["background"]["x"] = json!(1.5));
    assert_eq!(p, "background.x");
    assert!(r.contains("1.5"), "{r}");
    assert_eq!(path_of(|v| v["regions"][1]["x"] = json!(-0.1)), "regions[1].x");
}

#[test]
fn layer_rules() {
    assert_eq!(path_of(|v| v["regions"][0]["shape"]["to"] = json!(-2)), "regions[0].shape.to");
    assert_eq!(path_of(|v| v["regions"][0]["shape"]["from"] = json!(5)), "regions[0].shape.to");
}

#[test]
fn box_rules() {
    assert_eq!(path_of(|v| v["regions"][1]["shape"]["max"][2] = json!(-1)), "regions[1].shape.max[2]");
    assert_eq!(path_of(|v| v["regions"][1]["shape"]["max"] = json!([5, 5])), "regions[1].shape.max");
    assert_eq!(path_of(|v| v["regions"][1]["shape"]["min"] = json!([])), "regions[1].shape.min");
    assert_eq!(path_of(|v| v["regions"][1]["shape"]["min"] = json!([0, 0, 0, 0])), "regions[1].shape.min");
}

#[test]
fn sphere_and_cylinder_rules() {
    let (p, r) = fails(|v| v["regions"][2]["shape"]["radius"] = json!(-3));
    assert_eq!(p, "regions[2].shape.radius");
    assert!(r.contains("nm") && r.contains("-3"), "{r}");
    assert_eq!(path_of(|v| v["regions"][2]["shape"]["radius"] = json!(0)), "regions[2].shape.radius");
    assert_eq!(path_of(|v| v["regions"][3]["shape"]["radius"] = json!(0)), "regions[3].shape.radius");
    assert_eq!(path_of(|v| v["regions"][3]["shape"]["height"] = json!(-1)), "regions[3].shape.height");
}

#[test]
fn cone_rules() {
    assert_eq!(path_of(|v| v["regions"][4]["shape"]["base_radius"] = json!(0)), "regions[4].shape.base_radius");
    assert_eq!(path_of(|v| v["regions"][4]["shape"]["top_radius"] = json!(-1)), "regions[4].shape.top_radius");
    assert_eq!(path_of(|v| v["regions"][4]["shape"]["top_radius"] = json!(6)), "regions[4].shape.top_radius");
    assert_eq!(path_of(|v| v["regions"][4]["shape"]["height"] = json!(0)), "regions[4].shape.height");
}

#[test]
fn pyramid_rules() {
    assert_eq!(path_of(|v| v["regions"][5]["shape"]["base_width"] = json!(-8)), "regions[5].shape.base_width");
    assert_eq!(path_of(|v| v["regions"][5]["shape"]["top_width"] = json!(9)), "regions[5].shape.top_width");
    assert_eq!(path_of(|v| v["regions"][5]["shape"]["height"] = json!(0)), "regions[5].shape.height");
}

#[test]
fn lens_rules() {
    let (p, r) = fails(|v| v["regions"][6]["shape"]["height"] = json!(7));
    assert_eq!(p, "regions[6].shape.height");
    assert!(r.contains("hemisphere"), "{r}");
    assert_eq!(path_of(|v| v["regions"][6]["shape"]["radius"] = json!(0)), "regions[6].shape.radius");
    // a hemisphere is fine
    let mut v = base();
    v["regions"][6]["shape"]["height"] = json!(6);
    run(&v).unwrap();
}

#[test]
fn ellipsoid_rules() {
    assert_eq!(path_of(|v| v["regions"][7]["shape"]["semi_axes"] = json!([4, 3])), "regions[7].shape.semi_axes");
    assert_eq!(path_of(|v| v["regions"][7]["shape"]["semi_axes"][2] = json!(0)), "regions[7].shape.semi_axes[2]");
}

#[test]
fn point_length_rules() {
    // 2D domain: 1 or 2 entries, or 3; a 3-entry point off the plane is fine if the shape reaches it
    let mut v = base();
    v["domain"]["size"] = json!([40, 40]);
    v["domain"]["periodic"] = json!([false, true]);
    v["potentials"][0]["axes"] = json!(["x"]);
    v["potentials"][2]["sigma"] = json!(3);
    v["regions"][7]["shape"]["semi_axes"] = json!([4, 3]);
    v["regions"][0]["shape"]["axis"] = json!("x");
    run(&v).unwrap();
    // 1D domain: a 2-entry point is ambiguous
    let (p, r) = fails(|v| {
        v["domain"] = json!({ "size": [40], "spacing": 1 });
        v["regions"] = json!([{ "shape": { "type": "sphere", "center": [0, 1], "radius": 3 }, "material": "GaAs" }]);
        v["potentials"] = json!([]);
    });
    assert_eq!(p, "regions[0].shape.center");
    assert!(r.contains("1D"), "{r}");
}

#[test]
fn region_outside_domain() {
    let (p, r) = fails(|v| v["regions"][2]["shape"]["center"] = json!([100, 0, 0]));
    assert_eq!(p, "regions[2].shape");
    assert!(r.contains("outside"), "{r}");
    // touching the boundary only is outside
    assert_eq!(path_of(|v| v["regions"][2]["shape"]["center"] = json!([23, 0, 0])), "regions[2].shape");
    assert_eq!(path_of(|v| v["regions"][0]["shape"] = json!({"type": "layer", "axis": "z", "from": 10, "to": 12})), "regions[0].shape");
    // in 2D, a layer normal to z must contain z = 0
    let (p, r) = fails(|v| {
        v["domain"] = json!({ "size": [40, 40], "spacing": 1 });
        v["regions"] = json!([{ "shape": { "type": "layer", "axis": "z", "from": 1, "to": 3 }, "material": "GaAs" }]);
        v["potentials"] = json!([]);
    });
    assert_eq!(p, "regions[0].shape");
    assert!(r.contains("z = 0"), "{r}");
}

#[test]
fn solve_rules() {
    assert_eq!(path_of(|v| v["solve"]["states"] = json!(0)), "solve.states");
    assert_eq!(path_of(|v| v["solve"]["states"] = json!(1001)), "solve.states");
    assert_eq!(path_of(|v| v["solve"]["tolerance"] = json!(0)), "solve.tolerance");
    assert_eq!(path_of(|v| v["solve"]["tolerance"] = json!(0.1)), "solve.tolerance");
    assert_eq!(path_of(|v| v["solve"]["tolerance"] = json!(-1e-8)), "solve.tolerance");
    assert_eq!(path_of(|v| v["solve"]["max_iterations"] = json!(0)), "solve.max_iterations");
    // more states than cells
    let (p, r) = fails(|v| {
        v["domain"] = json!({ "size": [4], "spacing": 1 });
        v["regions"] = json!([]);
        v["potentials"] = json!([]);
        v["solve"]["states"] = json!(5);
    });
    assert_eq!(p, "solve.states");
    assert!(r.contains("4 cells"), "{r}");
}

#[test]
fn harmonic_rules() {
    let (p, r) = fails(|v| v["potentials"][0]["hbar_omega"] = json!(-0.01));
    assert_eq!(p, "potentials[0].hbar_omega");
    assert!(r.contains("eV") && r.contains("-0.01"), "{r}");
    assert_eq!(path_of(|v| v["potentials"][1]["spring_constant"] = json!(0)), "potentials[1].spring_constant");
    assert_eq!(path_of(|v| v["potentials"][0]["spring_constant"] = json!(1)), "potentials[0].spring_constant");
    assert_eq!(
        path_of(|v| {
            v["potentials"][0].as_object_mut().unwrap().remove("hbar_omega");
        }),
        "potentials[0]"
    );
    assert_eq!(path_of(|v| v["potentials"][1]["mass"] = json!(0.067)), "potentials[1].mass");
    assert_eq!(path_of(|v| v["potentials"][0]["mass"] = json!(0)), "potentials[0].mass");
    assert_eq!(path_of(|v| v["potentials"][0]["axes"] = json!([])), "potentials[0].axes");
    assert_eq!(path_of(|v| v["potentials"][0]["axes"] = json!(["x", "x"])), "potentials[0].axes[1]");
    assert_eq!(path_of(|v| v["potentials"][1]["center"] = json!([])), "potentials[1].center");
    let (p, r) = fails(|v| {
        v["domain"] = json!({ "size": [40, 40], "spacing": 1 });
        v["regions"] = json!([]);
        v["potentials"] = json!([{ "type": "harmonic", "hbar_omega": 0.01, "axes": ["x", "z"] }]);
    });
    assert_eq!(p, "potentials[0].axes[1]");
    assert!(r.contains("2D"), "{r}");
}

#[test]
fn gaussian_square_well_file_rules() {
    assert_eq!(path_of(|v| v["potentials"][2]["sigma"] = json!(0)), "potentials[2].sigma");
    assert_eq!(path_of(|v| v["potentials"][2]["sigma"] = json!([3, 3])), "potentials[2].sigma");
    assert_eq!(path_of(|v| v["potentials"][2]["sigma"][1] = json!(-3)), "potentials[2].sigma[1]");
    assert_eq!(path_of(|v| v["potentials"][3]["shape"]["radius"] = json!(-2)), "potentials[3].shape.radius");
    assert_eq!(path_of(|v| v["potentials"][3]["shape"]["center"] = json!([0, 0, 50])), "potentials[3].shape");
    assert_eq!(path_of(|v| v["potentials"][4]["path"] = json!("")), "potentials[4].path");
}
