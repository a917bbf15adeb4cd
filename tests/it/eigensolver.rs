//! Block Lanczos against dense nalgebra on small symmetric matrices, including matrices
//! with clusters of exactly equal eigenvalues (the block size is at least the largest
//! multiplicity, so every copy must be found).
//!
//! Agreement required: |λ_lanczos − λ_dense| ≤ 1e-8 ‖A‖ (‖A‖ = max |λ| from the dense
//! solve), multiplicities equal, residuals ‖Ax − λx‖ ≤ 1e-8 ‖A‖, vectors orthonormal.

use qdsim_gpu::backend::CpuBackend;
use qdsim_gpu::linalg::lanczos::{lowest_eigenpairs, LanczosOptions};
use qdsim_gpu::linalg::{dense, CsrMatrix};

use crate::common;

/// splitmix64: a small deterministic generator (no extra dependencies).
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Random sparse symmetric n×n matrix: a random diagonal and `per_row` random
/// off-diagonal pairs per row.
fn random_sparse_symmetric(n: usize, per_row: usize, rng: &mut Rng) -> Vec<(usize, usize, f64)> {
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 4.0 * rng.uniform()));
        for _ in 0..per_row {
            let j = rng.below(n);
            if j != i {
                let v = rng.uniform();
                t.push((i, j, v));
                t.push((j, i, v));
            }
        }
    }
    t
}

fn laplacian_1d(n: usize) -> Vec<(usize, usize, f64)> {
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 2.0));
        if i > 0 {
            t.push((i, i - 1, -1.0));
            t.push((i - 1, i, -1.0));
        }
    }
    t
}

/// Kronecker sum L ⊕ L (⊕ L) of identical 1D Laplacians of size m: dimension m^d, exact
/// degeneracies from the permutations of the 1D indices.
fn kronecker_sum(m: usize, d: usize) -> CsrMatrix {
    let l = laplacian_1d(m);
    let n = m.pow(d as u32);
    let mut t = Vec::new();
    for axis in 0..d {
        let stride = m.pow(axis as u32);
        for idx in 0..n {
            let i_axis = (idx / stride) % m;
            for &(r, c, v) in l.iter().filter(|e| e.0 == i_axis) {
                let _ = r;
                let jdx = idx + c * stride - i_axis * stride;
                t.push((idx, jdx, v));
            }
        }
    }
    CsrMatrix::from_triplets(n, n, &t)
}

/// Group ascending values into clusters closer than `gap`: multiplicities.
fn multiplicities(v: &[f64], gap: f64) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for i in 0..v.len() {
        if i > 0 && v[i] - v[i - 1] < gap {
            *out.last_mut().unwrap() += 1;
        } else {
            out.push(1);
        }
    }
    out
}

/// Solve with Lanczos and with dense nalgebra and compare. The lowest `nev` values must
/// not cut through a cluster (checked on the dense spectrum).
fn compare(name: &str, a: &CsrMatrix, nev: usize, block_size: usize) -> Vec<usize> {
    let n = a.nrows;
    let (all, _) = dense::lowest_eigenpairs(a, n);
    let norm = all.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let gap = 1e-6 * norm;
    assert!(all[nev] - all[nev - 1] > gap, "{name}: nev = {nev} cuts a cluster");
    let be = CpuBackend::new();
    let opts = LanczosOptions { nev, tol: 1e-10, block_size, ..Default::default() };
    let r = lowest_eigenpairs(&be, a, &opts, &mut |_| {});
    assert!(r.converged, "{name}: not converged: {r:?}");
    assert_eq!(r.values.len(), nev, "{name}");
    let dense_m = multiplicities(&all[..nev], gap);
    let lanczos_m = multiplicities(&r.values, gap);
    let worst = r.values.iter().zip(&all).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / norm;
    let worst_res = r.residuals.iter().fold(0.0f64, |m, &x| m.max(x)) / norm;
    let mut worst_orth = 0.0f64;
    for i in 0..nev {
        for j in 0..=i {
            let d: f64 = r.vectors[i].iter().zip(&r.vectors[j]).map(|(x, y)| x * y).sum();
            worst_orth = worst_orth.max((d - if i == j { 1.0 } else { 0.0 }).abs());
        }
    }
    println!(
        "{name}: n = {n}, nev = {nev}, block {block_size}: multiplicities {lanczos_m:?}, max |dλ|/‖A‖ = {worst:.1e}, \
         max residual/‖A‖ = {worst_res:.1e}, orthonormality {worst_orth:.1e}, {} matvecs, {} restarts",
        r.matvecs, r.restarts
    );
    assert_eq!(lanczos_m, dense_m, "{name}: multiplicities differ: lanczos {:?}, dense {:?}", r.values, &all[..nev]);
    assert!(worst <= 1e-8, "{name}: eigenvalues differ by {worst:e} ‖A‖: {:?} vs {:?}", r.values, &all[..nev]);
    assert!(worst_res <= 1e-8, "{name}: residual {worst_res:e} ‖A‖");
    assert!(worst_orth <= 1e-8, "{name}: vectors not orthonormal ({worst_orth:e})");
    dense_m
}

#[test]
fn random_sparse_matches_dense() {
    let mut rng = Rng(12345);
    for (n, per_row, nev, block) in [(50, 2, 5, 1), (137, 3, 8, 2), (300, 2, 6, 3), (211, 4, 10, 4), (90, 1, 4, 1)] {
        let t = random_sparse_symmetric(n, per_row, &mut rng);
        let a = CsrMatrix::from_triplets(n, n, &t);
        assert!(a.asymmetry() == 0.0);
        compare(&format!("random n={n}"), &a, nev, block);
    }
}

#[test]
fn kronecker_sum_2d_pairs() {
    // L ⊕ L, m = 12: λ_i + λ_j, pairs (i ≠ j) doubly degenerate; in ascending order
    // (11) (12) (22) (13) (23) (14)
    let a = kronecker_sum(12, 2);
    let m = compare("Laplacian 12 ⊕ 12", &a, 10, 2);
    assert_eq!(m, vec![1, 2, 1, 2, 2, 2]);
}

#[test]
fn kronecker_sum_3d_triplets_and_sextets() {
    // L ⊕ L ⊕ L, m = 6 (n = 216), ascending: (111) 1, (112) 3, (122) 3, (113) 3,
    // (222) 1, (123) 6
    let a = kronecker_sum(6, 3);
    let m = compare("Laplacian 6 ⊕ 6 ⊕ 6", &a, 17, 6);
    assert_eq!(m, vec![1, 3, 3, 3, 1, 6]);
}

#[test]
fn direct_sum_of_identical_blocks() {
    // diag(B, B, B) with B random sparse symmetric 60×60, rows and columns then shuffled
    // by a random permutation: every eigenvalue exactly 3-fold.
    let mut rng = Rng(777);
    let nb = 60;
    let copies = 3;
    let tb = random_sparse_symmetric(nb, 3, &mut rng);
    let n = nb * copies;
    let mut perm: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        perm.swap(i, j);
    }
    let mut t = Vec::new();
    for c in 0..copies {
        for &(i, j, v) in &tb {
            t.push((perm[c * nb + i], perm[c * nb + j], v));
        }
    }
    let a = CsrMatrix::from_triplets(n, n, &t);
    let m = compare("3 × identical 60-blocks, permuted", &a, 12, 3);
    assert_eq!(m, vec![3, 3, 3, 3]);
}

/// Q D Qᵀ with Q a product of random Householder reflections (dense) and D with
/// prescribed multiplicities.
#[test]
fn rotated_diagonal_with_multiplicities() {
    let mut rng = Rng(4242);
    let n = 80;
    // lowest values: -5 (×1), -4 (×4), -3.5 (×2), -3 (×3), then simple values in [0, 10)
    let mut d: Vec<f64> = vec![-5.0, -4.0, -4.0, -4.0, -4.0, -3.5, -3.5, -3.0, -3.0, -3.0];
    while d.len() < n {
        d.push(5.0 + 5.0 * rng.uniform());
    }
    let mut q = nalgebra::DMatrix::<f64>::identity(n, n);
    for _ in 0..4 {
        let v = nalgebra::DVector::<f64>::from_fn(n, |_, _| rng.uniform());
        let v = &v / v.norm();
        let hh = nalgebra::DMatrix::<f64>::identity(n, n) - 2.0 * &v * v.transpose();
        q = hh * q;
    }
    let a = &q * nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_vec(d)) * q.transpose();
    let mut t = Vec::new();
    for i in 0..n {
        for j in 0..n {
            t.push((i, j, 0.5 * (a[(i, j)] + a[(j, i)])));
        }
    }
    let a = CsrMatrix::from_triplets(n, n, &t);
    let m = compare("Q D Q^T", &a, 10, 4);
    assert_eq!(m, vec![1, 4, 2, 3]);
}

// ---- issue 11: honest tolerances and backends, no non-finite number converged ----

/// A 1D well: `spacing` 0.1 nm gives 500 cells (Lanczos), 0.25 nm 200 cells (dense).
fn well(spacing: f64, solve: &str) -> String {
    format!(
        r#"{{
  "domain": {{ "size": [50.0], "spacing": {spacing} }},
  "background": {{ "material": "AlGaAs", "x": 0.3 }},
  "regions": [ {{ "shape": {{ "type": "layer", "axis": "x", "from": -3.0, "to": 3.0 }}, "material": "GaAs" }} ],
  "solve": {{ "states": 2, "backend": "cpu"{solve} }},
  "output": {{ "npy": false, "vtk": false, "plots": false }}
}}"#
    )
}

fn results(out: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

/// A tolerance of 1e-300 used to be "met" at a relative residual of 1e-15: it is raised to
/// f64's reach (1e-12) with a notice on stderr and in results.json; the dense path says
/// that tolerance and max_iterations do not apply to it.
#[test]
fn tolerance_below_reach_is_raised_with_a_notice_and_the_dense_path_says_what_does_not_apply() {
    let d = common::tmpdir("eigen", "tolerance");
    let scene = d.join("well.json");
    std::fs::write(&scene, well(0.1, r#", "tolerance": 1e-300"#)).unwrap();
    let out = d.join("out");
    let o = common::run(&["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("notice: solve.tolerance = 1e-300") && t.contains("solved to 1e-12"), "{t}");
    let r = results(&out);
    let s = &r["solver"];
    assert_eq!(s["method"], "lobpcg", "the default eigensolver");
    assert_eq!(s["tolerance_requested"].as_f64(), Some(1e-300));
    assert_eq!(s["tolerance_used"].as_f64(), Some(1e-12));
    assert!(s["notices"][0].as_str().unwrap().contains("1e-12"), "{s}");
    for st in r["states"].as_array().unwrap() {
        assert!(st["relative_residual"].as_f64().unwrap() <= 1e-11, "{st}");
    }
    // 200 cells: dense; max_iterations = 1 does not apply, and it says so
    let small = d.join("small.json");
    std::fs::write(&small, well(0.25, r#", "max_iterations": 1"#)).unwrap();
    let out2 = d.join("small.out");
    let o = common::run(&["solve", small.to_str().unwrap(), "--out", out2.to_str().unwrap(), "--quiet"]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("notice: 200 unknowns") && t.contains("max_iterations do not apply"), "{t}");
    let r = results(&out2);
    assert_eq!(r["solver"]["method"], "dense");
    assert_eq!(r["solver"]["max_iterations_applies"], false);
    assert!(r["solver"]["tolerance_used"].is_null());
    assert!(r["solver"]["notices"][0].as_str().unwrap().contains("dense"));
    let _ = std::fs::remove_dir_all(&d);
}

/// Overflowing or NaN operators used to come out "converged" with NaN energies: every
/// path (dense, Lanczos, with and without the filter) now reports them not converged, with
/// the reason, and never hangs; results.json says not_converged with the reason. A
/// non-finite operator built from the input is an input error naming the material.
#[test]
fn non_finite_operators_are_never_converged() {
    use qdsim_gpu::pipeline::{self, SolveOptions};
    let cpu = CpuBackend::new();
    let opts = |n: usize, iterative: bool| SolveOptions {
        states: 3,
        tolerance: 1e-8,
        max_matvecs: 20_000,
        block_size: 1,
        force_iterative: iterative,
        filter_degree: if n > 10_000 { 16 } else { 0 },
        eigensolver: Default::default(),
        dims: None,
    };
    for n in [50usize, 3000, 12_000] {
        // a chain whose entries are finite but whose products overflow, and one with a NaN
        let huge = |i: usize| 1e300 * (1.0 + (i % 7) as f64);
        let mut t: Vec<(usize, usize, f64)> = (0..n).map(|i| (i, i, huge(i))).collect();
        for i in 1..n {
            t.push((i, i - 1, -1e299));
            t.push((i - 1, i, -1e299));
        }
        let overflow = CsrMatrix::from_triplets(n, n, &t);
        let mut t2 = laplacian_1d(n);
        t2.push((n / 2, n / 2, f64::NAN));
        let nan = CsrMatrix::from_triplets(n, n, &t2);
        for (name, h) in [("overflow", &overflow), ("nan", &nan)] {
            for iterative in [false, true] {
                if !iterative && n > 400 {
                    continue; // the dense path is for small problems only
                }
                let sol = pipeline::solve(&cpu, h, &opts(n, iterative), None, &mut |_| {}).unwrap();
                assert!(!sol.converged, "{name} n = {n} iterative {iterative}: {:?}", sol.energies);
                let why = sol.failure.as_deref().unwrap_or_else(|| panic!("{name} n = {n}: no reason given"));
                assert!(why.contains("non-finite"), "{name}: {why}");
            }
        }
    }
    // the results document of such a solve: not_converged, the reason, no state converged
    let text = well(0.25, "");
    let loaded = qdsim_gpu::scene::LoadedScene {
        scene: qdsim_gpu::scene::parse_scene(&text).unwrap(),
        path: "well.json".into(),
        base_dir: ".".into(),
    };
    let mut p = pipeline::prepare(&loaded, 2).unwrap();
    // a NaN potential that got past the input checks (as a self-consistent potential may)
    p.potential[5] = f64::NAN;
    let h = p.hamiltonian();
    let e = pipeline::prepare::check_operator(&p, &h).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("background.material") && e.to_string().contains("potential"), "{e}");
    let sol = pipeline::solve(&cpu, &h, &opts(h.nrows, false), None, &mut |_| {}).unwrap();
    assert!(!sol.converged && sol.failure.is_some());
    let r = serde_json::to_value(pipeline::schrodinger::results_json(&loaded, &p, &h, &sol, &Default::default())).unwrap();
    assert_eq!(r["status"], "not_converged");
    assert!(r["states"].as_array().unwrap().iter().all(|s| s["converged"] == false), "{}", r["states"]);
    // a non-finite mass from the input: exit 2, naming the cell's material
    p.potential[5] = 0.3;
    p.kinetic[100] = f64::INFINITY;
    let h = p.hamiltonian();
    let e = pipeline::prepare::check_operator(&p, &h).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("regions[0].material") && e.to_string().contains("GaAs"), "{e}");
}

/// `--backend gpu` on a small scene used to run densely on the CPU and ignore
/// `--adapter 99`; `QDSIM_GPU_PRECISION=f128` and `--gpu-precision f64 --backend cpu` were
/// ignored. Now: a bad adapter or precision is exit 2 naming it (nothing written), and gpu
/// runs the iterative solver on the GPU (where an adapter exists; lavapipe in CI).
#[test]
fn gpu_backend_insists_and_bad_precision_requests_are_input_errors() {
    let d = common::tmpdir("eigen", "gpu-insists");
    let scene = d.join("small.json");
    std::fs::write(&scene, well(0.25, "")).unwrap();
    let out = d.join("out");
    let (sc, o_s) = (scene.to_str().unwrap(), out.to_str().unwrap());
    let cases: [(&[&str], Option<&str>, &str); 4] = [
        (&["--backend", "gpu", "--adapter", "99"], None, "error: invalid input at `--adapter`"),
        (&["--backend", "cpu", "--gpu-precision", "f64"], None, "error: invalid input at `--gpu-precision`"),
        (&["--backend", "cpu"], Some("f128"), "error: invalid input at `QDSIM_GPU_PRECISION`: 'f128'"),
        (&["--backend", "gpu"], Some("f128"), "error: invalid input at `QDSIM_GPU_PRECISION`: 'f128'"),
    ];
    for (extra, env, first) in cases {
        let mut c = common::bin();
        c.args(["solve", sc, "--out", o_s, "--quiet"]).args(extra);
        if let Some(v) = env {
            c.env("QDSIM_GPU_PRECISION", v);
        }
        let o = c.output().unwrap();
        let t = common::text(&o);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {t}");
        let line = t.lines().find(|l| l.starts_with("error:")).unwrap_or("");
        assert!(line.starts_with(first), "{extra:?}: {t}");
        assert!(!t.contains("panicked"), "{t}");
        assert!(!out.exists(), "{extra:?}: output written");
    }
    if common::skip_without_gpu() {
        return;
    }
    let o = common::run(&["solve", sc, "--out", o_s, "--quiet", "--backend", "gpu"]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let r = results(&out);
    assert_eq!(r["backend"]["name"], "gpu");
    assert_eq!(r["solver"]["method"], "lobpcg", "200 unknowns on the GPU: the iterative solver (the default, LOBPCG), not the CPU's dense path");
    let _ = std::fs::remove_dir_all(&d);
}

/// A dot on a wetting layer that runs through the domain: the layer reaches the boundary at
/// the GaAs band edge, below every level, so "above the lowest potential on the boundary"
/// called every level unbound. The continuum threshold is the layer's own subband edge (the
/// lowest level of the face's cross-section), so the dot's levels below it are bound, and it
/// agrees with the 1D well of the same layer (the face's lateral walls raise it only a little).
#[test]
fn levels_below_a_wetting_layers_subband_are_bound() {
    use qdsim_gpu::scene::{parse_scene, LoadedScene};
    use qdsim_gpu::pipeline::schrodinger::unbound_levels;
    use qdsim_gpu::pipeline::{prepare, SolveOptions};
    let solve = |h: &CsrMatrix, o: &SolveOptions| qdsim_gpu::pipeline::solve(&CpuBackend::new(), h, o, None, &mut |_| {});
    let load = |text: &str| LoadedScene { scene: parse_scene(text).unwrap(), path: "t.json".into(), base_dir: ".".into() };
    let layer = r#"{ "shape": { "type": "layer", "axis": "y", "from": -1.0, "to": 1.0 }, "material": "GaAs" }"#;
    let dot = r#"{ "shape": { "type": "sphere", "center": [0, 4], "radius": 6.0 }, "material": "GaAs" }"#;
    let two_d = format!(
        r#"{{ "domain": {{ "size": [60.0, 30.0], "spacing": 0.5 }}, "background": {{ "material": "AlGaAs", "x": 0.3 }},
             "regions": [ {layer}, {dot} ], "solve": {{ "states": 4 }} }}"#
    );
    let l = load(&two_d);
    let p = prepare(&l, 4).unwrap();
    let sol = solve(&p.hamiltonian(), &SolveOptions::from_scene(&l.scene)).unwrap();
    let (threshold, unbound) = unbound_levels(&p, &sol.energies);
    let threshold = threshold.unwrap();
    let boundary_min = qdsim_gpu::pipeline::schrodinger::boundary_minimum(&p.grid, &p.potential).unwrap();
    assert!(sol.energies[0] > boundary_min, "the dot's ground level {} lies above the layer's bulk edge {boundary_min}", sol.energies[0]);
    assert!(!unbound[0] && sol.energies[0] < threshold, "ground level {} against threshold {threshold}: {unbound:?}", sol.energies[0]);
    // the 1D well of the same layer, 30 nm of AlGaAs around a 2 nm GaAs layer
    let one_d = r#"{ "domain": { "size": [30.0], "spacing": 0.5 }, "background": { "material": "AlGaAs", "x": 0.3 },
        "regions": [ { "shape": { "type": "layer", "axis": "x", "from": -1.0, "to": 1.0 }, "material": "GaAs" } ], "solve": { "states": 1 } }"#;
    let l1 = load(one_d);
    let p1 = prepare(&l1, 1).unwrap();
    let well = solve(&p1.hamiltonian(), &SolveOptions::from_scene(&l1.scene)).unwrap().energies[0];
    // the face is 30 nm across with ψ = 0 at its ends: the layer's level plus at most a few meV
    assert!(threshold >= well - 1e-9 && threshold < well + 5e-3, "threshold {threshold} eV, 1D well level {well} eV");
    // a 1D problem keeps the plain rule: the potential at the ends
    let (t1, _) = unbound_levels(&p1, &[well]);
    assert_eq!(t1, qdsim_gpu::pipeline::schrodinger::boundary_minimum(&p1.grid, &p1.potential));
}

// ---- issue 13: LOBPCG with the multigrid of H − σ, selectable beside Lanczos ----

/// A GaAs disc (2D) or sphere (3D) in Al0.3Ga0.7As, `cells` per axis of 0.5 nm.
fn dot_scene(dim: usize, cells: usize, states: usize, solve: &str) -> String {
    let size = vec![0.5 * cells as f64; dim];
    // (a "sphere" in 2D is a disc)
    let (shape, center) = ("sphere", vec![0.0; dim]);
    format!(
        r#"{{
  "domain": {{ "size": {size:?}, "spacing": 0.5 }},
  "background": {{ "material": "AlGaAs", "x": 0.3 }},
  "regions": [ {{ "shape": {{ "type": "{shape}", "center": {center:?}, "radius": {r} }}, "material": "GaAs" }} ],
  "solve": {{ "states": {states}, "backend": "cpu", "tolerance": 1e-9{solve} }},
  "output": {{ "npy": false, "vtk": false, "plots": false }}
}}"#,
        r = 0.15 * cells as f64
    )
}

/// `solve.eigensolver` and `--eigensolver` choose the solver; LOBPCG and Lanczos find the
/// same levels (with their multiplicities: the 2D disc's and the sphere's degenerate
/// levels) to the tolerance; results.json and --stats report the solver's outer
/// iterations and host synchronisations.
#[test]
fn lobpcg_and_lanczos_find_the_same_levels_and_report_their_synchronisations() {
    let d = common::tmpdir("eigen", "lobpcg");
    for (dim, cells, states) in [(2usize, 72usize, 6usize), (3, 20, 7)] {
        let scene = d.join(format!("dot{dim}.json"));
        // the scene asks for LOBPCG; the command line overrides it for the second run
        std::fs::write(&scene, dot_scene(dim, cells, states, r#", "eigensolver": "lobpcg""#)).unwrap();
        let mut runs = Vec::new();
        for cli in [None, Some("lanczos")] {
            let out = d.join(format!("dot{dim}-{}.out", cli.unwrap_or("scene")));
            let mut args = vec!["solve", scene.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet", "--stats"];
            if let Some(e) = cli {
                args.extend(["--eigensolver", e]);
            }
            let o = common::run(&args);
            let t = common::text(&o);
            assert_eq!(o.status.code(), Some(0), "{t}");
            let method = cli.unwrap_or("lobpcg");
            assert!(t.contains(&format!("eigensolver: {method}, ")) && t.contains("host synchronisations"), "{t}");
            let r = results(&out);
            let s = &r["solver"];
            assert_eq!(s["method"], method, "{s}");
            assert!(s["outer_iterations"].as_u64().unwrap() > 0, "{s}");
            assert!(s["host_syncs"].as_u64().is_some(), "{s}");
            if method == "lobpcg" {
                assert!(s["preconditioner_setup_s"].as_f64().unwrap() > 0.0, "{s}");
            }
            runs.push(r);
        }
        let e = |r: &serde_json::Value| -> Vec<f64> { r["states"].as_array().unwrap().iter().map(|s| s["energy_ev"].as_f64().unwrap()).collect() };
        let norm = runs[0]["solver"]["norm_estimate_ev"].as_f64().unwrap();
        let (a, b) = (e(&runs[0]), e(&runs[1]));
        assert_eq!(a.len(), states);
        // residuals ≤ 1e-9·‖H‖ put both within ~(1e-9‖H‖)²/gap of the level
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-9 * norm, "{dim}D: lobpcg {a:?} lanczos {b:?}");
        }
        for st in runs[0]["states"].as_array().unwrap() {
            assert!(st["relative_residual"].as_f64().unwrap() <= 1e-8, "{st}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// An unknown solver, in the scene or on the command line, is an input error (exit 2)
/// naming the field.
#[test]
fn unknown_eigensolvers_are_input_errors() {
    let d = common::tmpdir("eigen", "bad-solver");
    let scene = d.join("bad.json");
    std::fs::write(&scene, dot_scene(2, 40, 2, r#", "eigensolver": "arnoldi""#)).unwrap();
    let o = common::run(&["solve", scene.to_str().unwrap(), "--out", d.join("o").to_str().unwrap(), "--quiet"]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("solve.eigensolver") && t.contains("arnoldi"), "{t}");
    let good = d.join("good.json");
    std::fs::write(&good, dot_scene(2, 40, 2, "")).unwrap();
    let o = common::run(&["solve", good.to_str().unwrap(), "--out", d.join("o").to_str().unwrap(), "--quiet", "--eigensolver", "arnoldi"]);
    let t = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("--eigensolver") && t.contains("arnoldi"), "{t}");
    assert!(!d.join("o").exists());
    let _ = std::fs::remove_dir_all(&d);
}
