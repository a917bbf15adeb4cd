//! The GPU backend (WGSL kernels through wgpu) against the CPU backend. In CI the adapter is
//! Mesa's lavapipe (a software Vulkan driver), so these run the real shaders on the CPU.
//! Without any adapter the tests skip under the one rule of common.rs (and fail with
//! QDSIM_REQUIRE_GPU=1, set by .ci/run).

use qdsim_gpu::backend::{CpuBackend, GpuBackend};
use qdsim_gpu::linalg::backend::{random_values, Backend, Coeffs, HaloAccess};
use qdsim_gpu::linalg::CsrMatrix;

use crate::common;
use crate::common::{close, gpu, laplacian3, random_sym};

#[test]
fn spmv_matches_cpu_with_poisoned_outputs() {
    let Some(g) = gpu() else { return };
    let c = CpuBackend::new();
    for (n, seed) in [(1usize, 1u64), (37, 2), (256, 3), (257, 4), (5000, 5)] {
        let a = random_sym(n, 3, seed);
        let x = random_values(n, seed + 100);
        let (ga, ca) = (g.upload_matrix(&a), c.upload_matrix(&a));
        let gx = g.from_host(&x);
        let mut gy = g.alloc(n);
        g.fill(&mut gy, f64::NAN);
        g.spmv(&ga, &gx, &mut gy);
        let mut cy = c.alloc(n);
        c.spmv(&ca, &x, &mut cy);
        close(&g.to_host(&gy), &cy, 1e-5);
        // fused Chebyshev step y ← αAx + βx + γy
        let mut gz = g.from_host(&cy);
        g.spmv_axpby(&ga, &gx, 0.5, -0.25, -1.0, &mut gz);
        let mut cz = cy.clone();
        c.spmv_axpby(&ca, &x, 0.5, -0.25, -1.0, &mut cz);
        close(&g.to_host(&gz), &cz, 1e-5);
    }
}

/// A grid operator (BenDaniel–Duke Hamiltonian with varying mass and potential).
fn grid_operator(dims: &[usize], periodic: [bool; 3]) -> CsrMatrix {
    let mut grid = qdsim_gpu::grid::Grid::uniform(dims, &vec![0.5; dims.len()]);
    grid.periodic = periodic;
    let kin: Vec<f64> = (0..grid.len()).map(|i| 0.02 + 0.01 * (i % 3) as f64).collect();
    let pot: Vec<f64> = (0..grid.len()).map(|i| 0.1 * (i % 5) as f64).collect();
    qdsim_gpu::physics::hamiltonian::assemble_hamiltonian(&grid, &kin, &pot)
}

#[test]
fn stencil_layout_matches_csr_and_cpu_with_poisoned_outputs() {
    use qdsim_gpu::backend::gpu::stencil::SpmvLayout;
    let Some(g) = gpu() else { return };
    let c = CpuBackend::new();
    // 1D, 2D, 3D; sizes that don't fill a workgroup; one over a dispatch dimension's
    // 65535 × 256 rows would take too long on a software driver, the grid split is tested
    // by vectors_longer_than_one_dispatch_dimension
    for dims in [vec![7usize], vec![300], vec![13, 11], vec![9, 7, 5], vec![40, 33, 21]] {
        let a = grid_operator(&dims, [false; 3]);
        let n = a.nrows;
        let st = g.upload_matrix_layout(&a, None);
        assert_eq!(st.layout(), SpmvLayout::Stencil, "{dims:?}");
        let csr = g.upload_matrix_layout(&a, Some(SpmvLayout::Csr));
        assert_eq!(csr.layout(), SpmvLayout::Csr);
        let x = random_values(n, 7);
        let gx = g.from_host(&x);
        let mut cy = c.alloc(n);
        c.spmv(&a, &x, &mut cy);
        for m in [&st, &csr] {
            let mut gy = g.alloc(n);
            g.fill(&mut gy, f64::NAN);
            g.spmv(m, &gx, &mut gy);
            close(&g.to_host(&gy), &cy, 1e-5);
            let mut gz = g.from_host(&cy);
            g.spmv_axpby(m, &gx, 0.5, -0.25, -1.0, &mut gz);
            let mut cz = cy.clone();
            c.spmv_axpby(&a, &x, 0.5, -0.25, -1.0, &mut cz);
            close(&g.to_host(&gz), &cz, 1e-5);
        }
    }
    // periodic operators are not stencils: CSR
    assert_eq!(g.upload_matrix_layout(&grid_operator(&[6, 5, 4], [false, true, false]), None).layout(), SpmvLayout::Csr);
}

#[test]
fn vector_kernels_dots_and_norms_match_cpu() {
    let Some(g) = gpu() else { return };
    let c = CpuBackend::new();
    for n in [1usize, 255, 256, 1000, 100_003] {
        let x = random_values(n, 7);
        let y = random_values(n, 8);
        let (gx, mut gy) = (g.from_host(&x), g.from_host(&y));
        let mut cy = y.clone();
        g.axpy(0.75, &gx, &mut gy);
        c.axpy(0.75, &x, &mut cy);
        g.xpby(&gx, -0.5, &mut gy);
        c.xpby(&x, -0.5, &mut cy);
        g.scale(3.0, &mut gy);
        c.scale(3.0, &mut cy);
        let mut gz = g.alloc(n);
        let mut cz = c.alloc(n);
        g.pointwise_mul(&gx, &gy, &mut gz);
        c.pointwise_mul(&x, &cy, &mut cz);
        close(&g.to_host(&gy), &cy, 1e-6);
        close(&g.to_host(&gz), &cz, 1e-6);
        let d = g.dot(&gx, &gy);
        let e = c.dot(&x, &cy);
        let norm = c.norm2(&x) * c.norm2(&cy);
        assert!((d - e).abs() <= 1e-6 * norm, "n {n}: dot {d} vs {e}");
        assert!((g.norm2(&gx) - c.norm2(&x)).abs() <= 1e-6 * c.norm2(&x));
        // batched forms
        let basis: Vec<Vec<f64>> = (0..5).map(|k| random_values(n, 20 + k)).collect();
        let gb: Vec<_> = basis.iter().map(|b| g.from_host(b)).collect();
        let bd = g.block_dot(&gb, &[g.from_host(&x), g.from_host(&y)]);
        let cd = c.block_dot(&basis, &[x.clone(), y.clone()]);
        close(&bd, &cd, 1e-5);
        // a block of 5 against 9 basis vectors: two groups of x, three of the basis, some partial
        let basis9: Vec<Vec<f64>> = (0..9).map(|k| random_values(n, 40 + k)).collect();
        let xs5: Vec<Vec<f64>> = (0..5).map(|k| random_values(n, 60 + k)).collect();
        let gb9: Vec<_> = basis9.iter().map(|b| g.from_host(b)).collect();
        let gx5: Vec<_> = xs5.iter().map(|b| g.from_host(b)).collect();
        close(&g.block_dot(&gb9, &gx5), &c.block_dot(&basis9, &xs5), 1e-5);
        let coeff = [0.5, -1.0, 0.25, 2.0, 0.0, 1.0, 1.0, -0.5, 0.0, 0.125];
        let mut gys = vec![g.from_host(&x), g.from_host(&y)];
        let mut cys = vec![x.clone(), y.clone()];
        g.block_sub(&gb, &Coeffs { rows: 5, cols: 2, data: &coeff }, &mut gys);
        c.block_sub(&basis, &Coeffs { rows: 5, cols: 2, data: &coeff }, &mut cys);
        close(&g.to_host(&gys[1]), &cys[1], 1e-5);
        let mut gout: Vec<_> = (0..2).map(|_| g.alloc(n)).collect();
        let mut cout: Vec<_> = (0..2).map(|_| c.alloc(n)).collect();
        g.combine(&gb, &Coeffs { rows: 5, cols: 2, data: &coeff }, &mut gout);
        c.combine(&basis, &Coeffs { rows: 5, cols: 2, data: &coeff }, &mut cout);
        close(&g.to_host(&gout[0]), &cout[0], 1e-5);
    }
}

#[test]
fn vectors_longer_than_one_dispatch_dimension() {
    let Some(g) = gpu() else { return };
    // 65535 workgroups × 256 threads is the most one grid dimension covers
    let n = 65_535 * 256 + 1000;
    if n > g.max_elements() {
        common::skip("adapter binding limit too small for this test");
        return;
    }
    let mut x = g.alloc(n);
    g.fill(&mut x, 1.0);
    let mut y = g.alloc(n);
    g.fill(&mut y, f64::NAN);
    g.fill(&mut y, 0.0);
    g.axpy(2.0, &x, &mut y);
    let s = g.dot(&x, &y);
    assert!((s - 2.0 * n as f64).abs() <= 1e-6 * 2.0 * n as f64, "sum {s} vs {}", 2 * n);
    let host = g.to_host(&y);
    assert_eq!(host[n - 1], 2.0);
    assert_eq!(host[0], 2.0);
}

#[test]
fn cg_solves_match_cpu() {
    let Some(g) = gpu() else { return };
    let c = CpuBackend::new();
    let a = random_sym(3000, 3, 11);
    let b = random_values(3000, 12);
    let opts = qdsim_gpu::linalg::cg::CgOptions { tol: 1e-5, max_iterations: 1000 };
    let dinv: Vec<f64> = a.diagonal().iter().map(|d| 1.0 / d).collect();
    let (ga, gb, gd) = (g.upload_matrix(&a), g.from_host(&b), g.from_host(&dinv));
    let mut gx = g.alloc(3000);
    let reads_before = g.stats().readbacks.load(std::sync::atomic::Ordering::Relaxed);
    let rg = qdsim_gpu::linalg::cg::cg(&g, &ga, &gb, &mut gx, Some(&gd), &opts);
    // the step lengths stay on the device: the residual is read back at predicted
    // iterations only (plus ‖b‖ and the final true residual), not every iteration
    let reads = g.stats().readbacks.load(std::sync::atomic::Ordering::Relaxed) - reads_before;
    assert!(rg.iterations >= 10 && (reads as usize) * 3 <= rg.iterations + 12, "{reads} read-backs for {} iterations", rg.iterations);
    let mut cx = c.alloc(3000);
    let rc = qdsim_gpu::linalg::cg::cg(&c, &a, &b, &mut cx, Some(&dinv), &opts);
    assert!(rg.converged && rc.converged, "{rg:?} {rc:?}");
    // the GPU solution's true residual, in f64
    let x = g.to_host(&gx);
    let r: Vec<f64> = a.mul_vec(&x).iter().zip(&b).map(|(ax, bi)| bi - ax).collect();
    let rel = r.iter().map(|v| v * v).sum::<f64>().sqrt() / b.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(rel < 3e-5, "relative residual {rel}");
    close(&x, &cx, 1e-4);
}

#[test]
fn lanczos_eigenvalues_match_cpu_and_dense() {
    let Some(g) = gpu() else { return };
    // Kronecker sum of three 1D Laplacians: exact threefold degeneracies
    let a = laplacian3(12);
    let opts = common::gpu_solve_options(7);
    let sg = qdsim_gpu::pipeline::solve(&g, &a, &opts, None, &mut |_| {}).unwrap();
    let (exact, _) = qdsim_gpu::linalg::dense::lowest_eigenpairs(&a, 7);
    assert!(sg.converged);
    for (e, x) in sg.energies.iter().zip(&exact) {
        assert!((e - x).abs() <= 1e-6 * x.abs(), "{e} vs {x}");
    }
    // the threefold level is found three times
    assert!((sg.energies[1] - sg.energies[3]).abs() < 1e-9);
}

#[test]
fn example_scenes_give_the_same_energies_on_both_backends() {
    let Some(gb) = gpu() else { return };
    // small versions of the foundation scenes (lavapipe runs the shaders on the CPU)
    let scenes = [
        r#"{ "domain": { "size": [40], "spacing": 0.2 }, "background": { "material": "AlGaAs", "x": 0.3 },
             "regions": [ { "shape": { "type": "layer", "axis": "x", "from": -5, "to": 5 }, "material": "GaAs" } ], "solve": { "states": 3 } }"#,
        r#"{ "domain": { "size": [80, 80], "spacing": 2 }, "background": { "material": "GaAs" },
             "potentials": [ { "type": "harmonic", "hbar_omega": 0.02 } ], "solve": { "states": 6 } }"#,
        r#"{ "domain": { "size": [24, 24, 24], "spacing": 1 }, "background": { "material": "AlGaAs", "x": 0.3 },
             "regions": [ { "shape": { "type": "sphere", "center": [0, 0, 0], "radius": 6 }, "material": "GaAs" } ], "solve": { "states": 4 } }"#,
        r#"{ "domain": { "size": [30, 30, 16], "spacing": 1 }, "background": { "material": "GaAs" },
             "regions": [ { "shape": { "type": "layer", "axis": "z", "from": -3, "to": -2.5 }, "material": "InAs" },
                          { "shape": { "type": "lens", "base": [0, 0, -2.5], "radius": 8, "height": 3 }, "material": "InAs" } ], "solve": { "states": 3 } }"#,
    ];
    for text in scenes {
        let scene = qdsim_gpu::scene::parse_scene(text).unwrap();
        let loaded = qdsim_gpu::scene::LoadedScene { scene, path: "t.json".into(), base_dir: ".".into() };
        let p = qdsim_gpu::pipeline::prepare(&loaded, 6).unwrap();
        let h = p.hamiltonian();
        let mut opts = qdsim_gpu::pipeline::SolveOptions::from_scene(&loaded.scene);
        opts.force_iterative = true;
        let c = qdsim_gpu::pipeline::solve(&CpuBackend::new(), &h, &opts, None, &mut |_| {}).unwrap();
        let g = qdsim_gpu::pipeline::solve(&gb, &h, &opts, None, &mut |_| {}).unwrap();
        assert_eq!(g.backend, "gpu");
        assert!(g.converged && c.converged, "gpu {:?} {:?} cpu {:?}", g.energies, g.residuals, c.residuals);
        // both meet their tolerance; the GPU's f32 floor is 1e-6 ‖H‖, and an eigenvalue's
        // error is of the order of residual² / gap, far below that
        for (eg, ec) in g.energies.iter().zip(&c.energies) {
            assert!((eg - ec).abs() <= 1e-6 * ec.abs(), "{eg} vs {ec}");
        }
    }
}

#[test]
fn transfers_are_counted_and_staging_buffers_reused() {
    let Some(g) = gpu() else { return };
    let x = g.from_host(&vec![1.0; 1000]);
    let before = g.stats().to_json();
    let mut y = g.alloc(1000);
    // device-only work moves nothing between host and device
    g.copy(&x, &mut y);
    g.scale(2.0, &mut y);
    g.flush();
    let mid = g.stats().to_json();
    assert_eq!(before["bytes_device_to_host"], mid["bytes_device_to_host"]);
    assert_eq!(before["bytes_host_to_device"], mid["bytes_host_to_device"]);
    // reading it back moves exactly its bytes, and repeated dots reuse staging buffers
    assert_eq!(g.to_host(&y)[999], 2.0);
    for _ in 0..5 {
        let _ = g.dot(&x, &y);
    }
    let after = g.stats().to_json();
    let d2h = after["bytes_device_to_host"].as_u64().unwrap() - mid["bytes_device_to_host"].as_u64().unwrap();
    assert_eq!(d2h, 4000 + 5 * 4);
    assert!(after["staging_pool_hits"].as_u64().unwrap() >= 4, "{after}");
}

#[test]
fn f64_kernels_match_cpu_to_double_precision() {
    let Some(g0) = gpu() else { return };
    if !g0.adapter().f64 {
        common::skip("adapter without f64 shaders");
        return;
    }
    drop(g0);
    let g = GpuBackend::with_precision(None, true, true).unwrap().unwrap();
    assert_eq!(g.precision_bits(), 64);
    let c = CpuBackend::new();
    let a = random_sym(3001, 3, 21);
    let x = random_values(3001, 22);
    let (ga, gx) = (g.upload_matrix(&a), g.from_host(&x));
    let mut gy = g.alloc(3001);
    g.fill(&mut gy, f64::NAN);
    g.spmv(&ga, &gx, &mut gy);
    let mut cy = c.alloc(3001);
    c.spmv(&a, &x, &mut cy);
    close(&g.to_host(&gy), &cy, 1e-13);
    let d = g.dot(&gx, &gy);
    let e = c.dot(&x, &cy);
    assert!((d - e).abs() <= 1e-12 * e.abs().max(1.0), "{d} vs {e}");
    let basis: Vec<Vec<f64>> = (0..11).map(|k| random_values(3001, 30 + k)).collect();
    let gb: Vec<_> = basis.iter().map(|b| g.from_host(b)).collect();
    close(&g.block_dot(&gb, &[g.from_host(&x)]), &c.block_dot(&basis, &[x.clone()]), 1e-12);
    // a solve at the CPU's tolerance: no f32 floor, no host refinement
    let opts = qdsim_gpu::pipeline::SolveOptions {
        states: 4,
        tolerance: 1e-10,
        max_matvecs: 50_000,
        block_size: 2,
        force_iterative: true,
        filter_degree: qdsim_gpu::pipeline::DEFAULT_FILTER_DEGREE,
        eigensolver: Default::default(),
        dims: None,
    };
    let sg = qdsim_gpu::pipeline::solve(&g, &a, &opts, None, &mut |_| {}).unwrap();
    let sc = qdsim_gpu::pipeline::solve(&c, &a, &opts, None, &mut |_| {}).unwrap();
    assert!(sg.converged && sg.tolerance == 1e-10 && sg.refine_s == 0.0);
    close(&sg.energies, &sc.energies, 1e-9);
}

#[test]
fn f32_cg_reaches_1e_10_by_refinement_in_f64() {
    let Some(g) = gpu() else { return };
    let c = CpuBackend::new();
    let a = random_sym(4000, 3, 21);
    let b = random_values(4000, 22);
    let ga = g.upload_matrix(&a);
    let precondition = qdsim_gpu::linalg::cg::Jacobi::new(&g, &a);
    let mut x = vec![0.0; 4000];
    let opts = qdsim_gpu::linalg::cg::CgOptions { tol: 1e-10, max_iterations: 5000 };
    let res = qdsim_gpu::linalg::cg::cg_refined(&g, &ga, &precondition, &c, &a, &b, &mut x, &opts);
    assert!(res.converged && res.relative_residual <= 1e-10, "{res:?}");
    // the residual is the true one, in f64
    let r: Vec<f64> = a.mul_vec(&x).iter().zip(&b).map(|(ax, bi)| bi - ax).collect();
    let rel = r.iter().map(|v| v * v).sum::<f64>().sqrt() / b.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(rel <= 1.01e-10, "{rel}");
}

/// The halo operations of the distributed backend: reading ranges of several vectors in
/// one go, and adding values into ranges that start anywhere (not at the storage-offset
/// alignment), against the CPU.
#[test]
fn range_reads_and_adds_match_cpu() {
    let Some(g) = gpu() else { return };
    let cpu = CpuBackend::new();
    let n = 1000;
    let (x, y) = (random_values(n, 1), random_values(n, 2));
    let ranges = [(0usize, 7usize), (3 + 10, 10), (499, 37), (990, 10)];
    let vals: Vec<f64> = (0..64).map(|i| 0.25 * i as f64 - 3.0).collect();
    let (gx, gy) = (g.from_host(&x), g.from_host(&y));
    let (cx, cy) = (cpu.from_host(&x), cpu.from_host(&y));
    let rg = g.read_ranges_many(&[(&gx, &ranges[..]), (&gy, &ranges[1..3])]);
    let rc = cpu.read_ranges_many(&[(&cx, &ranges[..]), (&cy, &ranges[1..3])]);
    assert_eq!(rg.len(), 2);
    close(&rg[0], &rc[0], 1e-6);
    close(&rg[1], &rc[1], 1e-6);
    let (mut gy, mut cy) = (gy, cy);
    g.add_ranges(&mut gy, &ranges, &vals);
    cpu.add_ranges(&mut cy, &ranges, &vals);
    close(&g.to_host(&gy), &cy, 1e-6);
}

/// The block operations of LOBPCG (spmm, block_axpy, block_scale, combine, block_dot_to,
/// column_dots_to) on `g` against the CPU for the matrix `a` uploaded in `layout`, with
/// blocks of every size in `ks`: outputs poisoned with NaN, a zero coefficient on a column
/// whose x is NaN (untouched), Gram slots at an offset with sentinels around them, and no
/// read-back until the one `read_scalars`.
fn check_block_ops(g: &GpuBackend, a: &CsrMatrix, layout: Option<qdsim_gpu::backend::gpu::stencil::SpmvLayout>, ks: &[usize], tol: f64) {
    let c = CpuBackend::new();
    let n = a.nrows;
    let ga = g.upload_matrix_layout(a, layout);
    for &k in ks {
        let what = format!("n {n}, k {k}, {:?}", ga.layout());
        let xs: Vec<Vec<f64>> = (0..k).map(|j| random_values(n, 1000 + j as u64)).collect();
        let gx: Vec<_> = xs.iter().map(|x| g.from_host(x)).collect();
        let c0 = g.stats().counts();
        // spmm overwrites NaN outputs
        let mut gy: Vec<_> = (0..k).map(|_| g.from_host(&vec![f64::NAN; n])).collect();
        g.spmm(&ga, &gx, &mut gy);
        let cy: Vec<Vec<f64>> = xs.iter().map(|x| a.mul_vec(x)).collect();
        // y_j += α_j x_j, α = 0 on column 1 whose x is NaN: untouched
        let alphas: Vec<f64> = (0..k).map(|j| if j == 1 { 0.0 } else { 0.5 - 0.25 * j as f64 }).collect();
        let mut ax = gx.iter().map(|x| g.to_host(x)).collect::<Vec<_>>();
        if k > 1 {
            ax[1] = vec![f64::NAN; n];
        }
        let gax: Vec<_> = ax.iter().map(|x| g.from_host(x)).collect();
        let c1 = g.stats().counts();
        g.block_axpy(&alphas, &gax, &mut gy);
        let mut cz = cy.clone();
        c.block_axpy(&alphas, &ax, &mut cz);
        // x_j ← β_j x_j (β = 1 on column 0, 0 on column 2)
        let betas: Vec<f64> = (0..k).map(|j| [1.0, -2.0, 0.0, 3.5][j % 4]).collect();
        let mut gw: Vec<_> = xs.iter().map(|x| g.from_host(x)).collect();
        g.block_scale(&betas, &mut gw);
        let mut cw = xs.clone();
        c.block_scale(&betas, &mut cw);
        // one scalar buffer: [sentinel, Gram (m × k, m = 11: two groups of 8), k column dots, sentinel]
        let m = 11;
        let basis: Vec<Vec<f64>> = (0..m).map(|i| random_values(n, 2000 + i as u64)).collect();
        let gb: Vec<_> = basis.iter().map(|b| g.from_host(b)).collect();
        // out_j ← Σ_i basis_i C_ij over NaN outputs; column 8 all zero (its group of outputs
        // has no tile: zeros), a zero 8 × 8 tile for outputs 0-7 from basis 8-10 when k = 3
        let coef: Vec<f64> = (0..m * k)
            .map(|p| {
                let (i, j) = (p % m, p / m);
                if j == 8 || (k == 3 && i >= 8) {
                    0.0
                } else {
                    0.1 * (1.0 + (i * 7 + j * 3) as f64 % 5.0) - 0.25
                }
            })
            .collect();
        let cc = Coeffs { rows: m, cols: k, data: &coef };
        let mut gcomb: Vec<_> = (0..k).map(|_| g.from_host(&vec![f64::NAN; n])).collect();
        g.combine(&gb, &cc, &mut gcomb);
        let mut ccomb: Vec<Vec<f64>> = (0..k).map(|_| vec![0.0; n]).collect();
        c.combine(&basis, &cc, &mut ccomb);
        let mut s = g.alloc_scalars(2 + m * k + k);
        g.block_dot_to(&gb, &gy, &mut s, 1);
        g.column_dots_to(&gw, &gy, &mut s, 1 + m * k);
        let c2 = g.stats().counts();
        assert_eq!((c2 - c1).readbacks, 0, "{what}: the block operations read back");
        let vals = g.read_scalars(&s);
        assert_eq!((g.stats().counts() - c2).readbacks, 1, "{what}: read_scalars is one read-back");
        assert!((c2 - c0).dispatches > 0);
        for (j, (y, z)) in gy.iter().zip(&cz).enumerate() {
            close(&g.to_host(y), z, tol);
            close(&g.to_host(&gw[j]), &cw[j], tol);
            close(&g.to_host(&gcomb[j]), &ccomb[j], tol);
        }
        assert_eq!((vals[0], vals[1 + m * k + k]), (0.0, 0.0), "{what}: sentinels");
        let gram = c.block_dot(&basis, &cz);
        let scale = basis.iter().chain(&cz).map(|v| c.dot(v, v)).fold(0.0f64, f64::max).max(1e-30);
        for (i, (x, y)) in vals[1..1 + m * k].iter().zip(&gram).enumerate() {
            assert!((x - y).abs() <= tol * scale, "{what}: Gram entry {i}: {x} vs {y}");
        }
        for j in 0..k {
            let d = c.dot(&cw[j], &cz[j]);
            let x = vals[1 + m * k + j];
            assert!((x - d).abs() <= tol * scale, "{what}: column dot {j}: {x} vs {d}");
        }
    }
}

#[test]
fn block_operations_match_cpu_with_poisoned_outputs() {
    use qdsim_gpu::backend::gpu::stencil::SpmvLayout;
    let Some(g) = gpu() else { return };
    assert!(g.has_block_kernels(), "lavapipe binds enough storage buffers for the block kernels");
    let ks = [1usize, 3, 8, 9, 17];
    // CSR: sizes that do not fill a workgroup, one that crosses it
    for (n, seed) in [(1usize, 1u64), (7, 2), (257, 3)] {
        check_block_ops(&g, &random_sym(n, 3, seed), None, &ks, 1e-5);
    }
    // the stencil layout and CSR of the same grid operators, 1D, 2D, 3D
    for dims in [vec![7usize], vec![13, 11], vec![9, 7, 5]] {
        let a = grid_operator(&dims, [false; 3]);
        check_block_ops(&g, &a, None, &ks, 1e-5);
        check_block_ops(&g, &a, Some(SpmvLayout::Csr), &[3, 9], 1e-5);
    }
}

#[test]
fn block_operations_on_chunked_arrays_match_cpu() {
    use qdsim_gpu::backend::gpu::GpuOptions;
    let Some(g0) = gpu() else { return };
    drop(g0);
    // chunks of 4096 bytes: 1024 f32 elements, so 3000-element vectors have three, and a
    // banded matrix's row blocks read x windows that straddle two chunks
    let opts = GpuOptions { max_binding_bytes: Some(4096), ..qdsim_gpu::cli::env::gpu_options_from_env().unwrap() };
    let Some(g) = common::gpu_with(opts) else { return };
    let n = 3000;
    let r = random_values(2 * n, 9);
    let mut t = Vec::new();
    for i in 0..n {
        t.push((i, i, 4.0 + r[i]));
        for off in [1usize, 97] {
            if i + off < n {
                t.push((i, i + off, 0.3 * r[n + i]));
                t.push((i + off, i, 0.3 * r[n + i]));
            }
        }
    }
    let a = CsrMatrix::from_triplets(n, n, &t);
    let tol = if g.precision_bits() == 64 { 1e-12 } else { 1e-5 };
    check_block_ops(&g, &a, None, &[1, 9], tol);
}

#[test]
fn f64_block_operations_match_cpu_to_double_precision() {
    use qdsim_gpu::backend::gpu::stencil::SpmvLayout;
    let Some(g0) = gpu() else { return };
    if !g0.adapter().f64 {
        common::skip("adapter without f64 shaders");
        return;
    }
    drop(g0);
    let g = GpuBackend::with_precision(None, true, true).unwrap().unwrap();
    let a = grid_operator(&[9, 7, 5], [false; 3]);
    check_block_ops(&g, &a, None, &[3, 9], 1e-12);
    check_block_ops(&g, &a, Some(SpmvLayout::Csr), &[9], 1e-12);
}

/// One LOBPCG-shaped step on a block of k = 10 columns with a basis S = [X W P] of 30
/// (spmm, combine S → X, block_axpy, block_scale, the 30 × 30 Gram and the column norms
/// into one scalar buffer) records no read-back until its one `read_scalars`, and the
/// block kernels keep its dispatches near the tile counts (the per-column defaults would
/// take 10 + 50 + 10 + 10 + 240 + 20 = 340).
#[test]
fn a_lobpcg_shaped_step_records_few_dispatches_and_one_read_back() {
    let Some(g) = gpu() else { return };
    let a = grid_operator(&[12, 11, 10], [false; 3]);
    let n = a.nrows;
    let ga = g.upload_matrix(&a);
    let k = 10;
    let s: Vec<_> = (0..3 * k).map(|j| g.random(n, 50 + j as u64)).collect();
    let mut x: Vec<_> = (0..k).map(|_| g.alloc(n)).collect();
    let mut ax: Vec<_> = (0..k).map(|_| g.alloc(n)).collect();
    let coef: Vec<f64> = (0..3 * k * k).map(|p| ((p * 37) % 11) as f64 / 11.0 - 0.5).collect();
    let mut scal = g.alloc_scalars(3 * k * 3 * k + k);
    let c0 = g.stats().counts();
    g.combine(&s, &Coeffs { rows: 3 * k, cols: k, data: &coef }, &mut x);
    let c1 = g.stats().counts();
    g.spmm(&ga, &x, &mut ax);
    let c2 = g.stats().counts();
    g.block_axpy(&vec![-0.5; k], &x, &mut ax);
    g.block_scale(&vec![2.0; k], &mut ax);
    let c3 = g.stats().counts();
    g.block_dot_to(&s, &s, &mut scal, 0);
    let c4 = g.stats().counts();
    g.column_dots_to(&ax, &ax, &mut scal, 9 * k * k);
    let c5 = g.stats().counts();
    let _ = g.read_scalars(&scal);
    let c6 = g.stats().counts();
    let d = |a: qdsim_gpu::backend::gpu::GpuCounts, b: qdsim_gpu::backend::gpu::GpuCounts| (a - b).dispatches;
    eprintln!(
        "LOBPCG-shaped step on lavapipe, k = {k}, basis 30: dispatches combine {}, spmm {}, axpy+scale {}, Gram 30x30 {}, column dots {}; read-backs {} before read_scalars, {} for it",
        d(c1, c0), d(c2, c1), d(c3, c2), d(c4, c3), d(c5, c4), (c5 - c0).readbacks, (c6 - c5).readbacks
    );
    assert_eq!((c5 - c0).readbacks, 0);
    assert_eq!((c6 - c5).readbacks, 1);
    if g.has_block_kernels() {
        assert_eq!((d(c1, c0), d(c2, c1), d(c3, c2), d(c4, c3), d(c5, c4)), (8, 2, 4, 33, 6));
    }
}

#[test]
fn kernel_profile_sees_every_dispatch_without_extra_syncs() {
    let opts = qdsim_gpu::backend::gpu::GpuOptions { profile_kernels: true, ..Default::default() };
    let Some(g) = common::gpu_with(opts) else { return };
    let x = g.from_host(&random_values(5000, 3));
    let mut y = g.alloc(5000);
    g.memory().start_profile();
    let before = g.stats().to_json();
    for _ in 0..20 {
        g.copy(&x, &mut y);
        g.scale(0.5, &mut y);
        g.axpy(1.0, &x, &mut y);
    }
    g.flush();
    let mid = g.stats().to_json();
    let p = g.memory().kernel_profile().expect("profiling was started");
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    // every dispatch recorded is in the profile, with a device time
    assert_eq!(p.dispatches(), n(&mid, "dispatches") - n(&before, "dispatches"), "{p:?}");
    assert_eq!(p.lost_batches, 0);
    assert!(p.busy_s > 0.0 && p.busy_s <= p.timeline_s, "{p:?}");
    assert!(p.kernels.iter().all(|k| k.seconds >= 0.0 && k.dispatches > 0));
    // the profile's read-backs are not the stream's: no host read was counted while recording
    assert_eq!(n(&mid, "bytes_device_to_host"), n(&before, "bytes_device_to_host"));
}

#[test]
fn many_vectors_come_back_in_one_read_back() {
    let Some(g) = gpu() else { return };
    // device-written vectors (batched) of lengths that do not fill a workgroup, and a fresh
    // zero one (no transfer)
    let host: Vec<Vec<f64>> = (0..4).map(|i| random_values(3000 + 7 * i, i as u64)).collect();
    let xs: Vec<_> = host.iter().map(|h| g.from_host(h)).collect();
    let mut ys: Vec<_> = xs.iter().map(|x| g.alloc(g.len(x))).collect();
    for (x, y) in xs.iter().zip(ys.iter_mut()) {
        g.copy(x, y);
        g.scale(-2.0, y);
    }
    ys.push(g.alloc(17));
    let c0 = g.stats().counts();
    let got = g.to_host_many(&ys);
    let d = g.stats().counts() - c0;
    assert_eq!(d.readbacks, 1, "one read-back for {} vectors", ys.len());
    for (h, y) in host.iter().zip(&got) {
        assert_eq!(h.len(), y.len());
        // f32 storage: -2x is exact in binary
        assert!(h.iter().zip(y).all(|(a, b)| (-2.0 * (*a as f32) as f64 - b).abs() == 0.0));
    }
    assert_eq!(got[4], vec![0.0; 17]);
    // and the same as one by one
    let one: Vec<Vec<f64>> = ys.iter().map(|y| g.to_host(y)).collect();
    assert_eq!(got, one);
}

/// `time_device` brackets all the work its closure records, also right after a read-back,
/// whose ramped flush (`QDSIM_GPU_FIRST_FLUSH`) would otherwise submit the first 32
/// dispatches on their own: the timed pass then held 32 of 200 copies and `bench --gpu`
/// reported 6× the real bandwidth. Either the pass holds every dispatch (no submission in
/// between) or no time is returned.
#[test]
fn device_timing_brackets_every_dispatch_after_a_read_back() {
    use std::sync::atomic::Ordering;
    let Some(g) = gpu() else { return };
    let x = g.from_host(&random_values(4096, 1));
    let mut y = g.alloc(4096);
    let _ = g.to_host(&x); // a read-back: the next batch would be flushed after 32 dispatches
    let before = g.stats().submissions.load(Ordering::Relaxed);
    let mut seen = 0;
    let t = g.time_device(&mut || {
        for _ in 0..200 {
            g.copy(&x, &mut y);
        }
        seen = g.stats().submissions.load(Ordering::Relaxed);
    });
    if let Some(t) = t {
        // (without timestamp queries the work runs untimed, flushed as usual)
        assert_eq!(seen, before, "the timed dispatches were submitted in pieces");
        assert!(t.is_finite() && t >= 0.0, "device time {t}");
    }
    assert_eq!(g.to_host(&y), g.to_host(&x));
}

/// Issue 13: constructing the backend compiles no pipeline on the caller's thread (the
/// 29 of the kernel files are compiled on its background thread, or on first use), and
/// the kernels work from the first use on, before or after that thread is done.
#[test]
fn construction_compiles_no_pipeline_and_first_uses_wait_for_the_kernels() {
    use qdsim_gpu::backend::gpu::kernel::pipelines_compiled_on_this_thread;
    if common::skip_without_gpu() {
        return;
    }
    let opts = qdsim_gpu::cli::env::gpu_options_from_env().expect("GPU variables");
    for wait in [false, true] {
        let before = pipelines_compiled_on_this_thread();
        let g = GpuBackend::with_options(None, true, opts.clone()).unwrap().unwrap();
        assert_eq!(pipelines_compiled_on_this_thread(), before, "pipelines compiled by the constructor");
        if wait {
            g.compile_kernels();
            assert!(g.basic_kernels_ready());
        }
        let x: Vec<f64> = (0..300).map(|i| i as f64 * 0.5).collect();
        let gx = g.from_host(&x);
        let mut gy = g.alloc(300);
        g.fill(&mut gy, 2.0);
        g.axpy(1.0, &gx, &mut gy);
        let want: Vec<f64> = x.iter().map(|v| v + 2.0).collect();
        close(&g.to_host(&gy), &want, 1e-6);
        assert!((g.dot(&gx, &gx) - x.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-4 * x.iter().map(|v| v * v).sum::<f64>());
        assert!(g.basic_kernels_ready());
    }
}
