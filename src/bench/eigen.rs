//! The eigensolver benchmark (`qdsim-gpu bench --eigensolvers`): LOBPCG preconditioned by
//! the multigrid of H − σ against Chebyshev-filtered block Lanczos, on the same matrices,
//! through [`crate::pipeline::solve`] (what `qdsim-gpu solve` runs: the same options, the
//! f64 refinement after an f32 backend, the [`crate::backend::timing::TimingBackend`]
//! that counts host synchronisations).
//!
//! **Cases** ([`cases`]), each at two resolutions of the same physics, so that the time per
//! unknown shows whether the cost grows like the grid:
//! - `wire420`, `wire840`: a 2D cross-section of a circular GaAs nanowire of radius
//!   [`WIRE_RADIUS_NM`] = 30 nm in Al₀.₃Ga₀.₇As, in a square of [`WIRE_DOMAIN_NM`] = 84 nm
//!   (12 nm of barrier around the wire), electrons at 300 K, n × n cells of 84/n nm
//!   (420² = 176 400 and 840² = 705 600 unknowns), ψ = 0 on the faces; 4 states, tol 1e-9.
//! - `dot64`, `dot128`: the 3D dot of [`super::dot_scene`] (a 10 nm GaAs sphere in a 40 nm
//!   Al₀.₃Ga₀.₇As cube) on 64³ and 128³ cells; 10 states, tol 1e-8 (the standard bench's).
//!
//! **Criterion** (both solvers, and what the peer scripts are told): a pair is converged
//! when ‖Hψ − Eψ‖ ≤ tol·‖H‖, ‖H‖ the largest absolute row sum (Gershgorin). The peers are
//! given the same matrices (`--export-matrix DIR`: Matrix Market, for
//! scripts/scipy_peers.py; `--export-csr DIR`: .npy CSR arrays, for
//! scripts/cupy_reference.py) and a manifest `cases.json` with each case's states,
//! tolerance and ‖H‖, so they stop at the same residual.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::error::{QdError, Result};
use crate::linalg::backend::Backend;
use crate::linalg::CsrMatrix;
use crate::pipeline::{SolveOptions, DEFAULT_FILTER_DEGREE};
use crate::scene::{parse_scene, Eigensolver, LoadedScene};

/// Radius of the benchmark wire, nm.
pub const WIRE_RADIUS_NM: f64 = 30.0;
/// Edge of the square around it, nm.
pub const WIRE_DOMAIN_NM: f64 = 84.0;

/// The 2D wire scene on n × n cells (see the module docs).
pub fn wire_scene(n: usize) -> LoadedScene {
    let h = WIRE_DOMAIN_NM / n as f64;
    let text = json!({
        "name": "qdsim-gpu benchmark: 2D circular wire",
        "domain": {"size": [WIRE_DOMAIN_NM, WIRE_DOMAIN_NM], "spacing": h},
        "background": {"material": "AlGaAs", "x": 0.3},
        "regions": [{"shape": {"type": "sphere", "center": [0.0, 0.0], "radius": WIRE_RADIUS_NM}, "material": "GaAs"}],
        "temperature": super::DOT_TEMPERATURE_K,
        "solve": {"carrier": "electron", "states": 1},
    })
    .to_string();
    let scene = parse_scene(&text).expect("the benchmark scene parses");
    LoadedScene { scene, path: "bench-wire.json".into(), base_dir: ".".into() }
}

/// One benchmark problem.
#[derive(Clone, Debug)]
pub struct Case {
    /// `wire420`, `dot64`, …
    pub name: String,
    /// Cells per axis (1 on absent axes).
    pub dims: [usize; 3],
    pub states: usize,
    pub tol: f64,
    /// Largest exact degeneracy the grid's symmetry allows (the Lanczos block; LOBPCG's
    /// guard vectors cover it).
    pub degeneracy: usize,
}

impl Case {
    pub fn unknowns(&self) -> usize {
        self.dims.iter().product()
    }
    fn scene(&self) -> LoadedScene {
        if self.dims[2] == 1 {
            wire_scene(self.dims[0])
        } else {
            super::dot_scene(self.dims)
        }
    }
    /// The Hamiltonian, assembled as a solve of the scene would.
    pub fn matrix(&self) -> Result<CsrMatrix> {
        Ok(crate::pipeline::prepare(&self.scene(), 1)?.hamiltonian())
    }
}

/// A case by name: `wire<n>` (n × n wire) or `dot<n>` (n³ dot).
pub fn case(name: &str) -> Result<Case> {
    let bad = || QdError::input("--eigen-cases", format!("'{name}' is not a case: wire<n> (n ≥ 8, e.g. wire420) or dot<n> (e.g. dot64)"));
    let (dims, states, tol, degeneracy) = if let Some(n) = name.strip_prefix("wire") {
        let n: usize = n.parse().map_err(|_| bad())?;
        ([n, n, 1], 4, 1e-9, 2)
    } else if let Some(n) = name.strip_prefix("dot") {
        let n: usize = n.parse().map_err(|_| bad())?;
        ([n, n, n], 10, 1e-8, 3)
    } else {
        return Err(bad());
    };
    if dims[0] < 8 {
        return Err(bad());
    }
    Ok(Case { name: name.to_string(), dims, states, tol, degeneracy })
}

/// The cases of the issue (`quick`: small ones of the same kinds, for a smoke run).
pub fn cases(quick: bool) -> Vec<Case> {
    let names: &[&str] = if quick { &["wire60", "wire120", "dot16", "dot24"] } else { &["wire420", "wire840", "dot64", "dot128"] };
    names.iter().map(|n| case(n).expect("the built-in cases parse")).collect()
}

/// Write `case`'s matrix to `dir` as `<name>.mtx` (`mtx`) and/or `<name>_{row_ptr,col,val}.npy`
/// (`csr`); returns the manifest entry.
fn export(case: &Case, a: &CsrMatrix, mtx: Option<&Path>, csr: Option<&Path>) -> Result<Value> {
    let mut files = json!({});
    if let Some(dir) = mtx {
        std::fs::create_dir_all(dir).map_err(|e| QdError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join(format!("{}.mtx", case.name));
        let comment = format!(
            "qdsim-gpu eigensolver benchmark {}: {:?} cells, {} states, tol {:e} relative to ||H||_inf = {}; energies in eV",
            case.name,
            case.dims,
            case.states,
            case.tol,
            a.norm_inf()
        );
        a.write_matrix_market(&path, &comment)?;
        files["mtx"] = json!(path.file_name().map(|f| f.to_string_lossy().into_owned()));
    }
    if let Some(dir) = csr {
        std::fs::create_dir_all(dir).map_err(|e| QdError::io(format!("creating {}", dir.display()), e))?;
        super::gpu::export_csr(a, dir, &case.name)?;
        files["csr"] = json!(case.name);
    }
    Ok(json!({
        "name": case.name, "dims": case.dims, "unknowns": case.unknowns(), "nnz": a.nnz(),
        "states": case.states, "tol": case.tol, "norm_inf_ev": a.norm_inf(), "degeneracy": case.degeneracy,
        "criterion": "||H psi - E psi|| <= tol * ||H||_inf", "files": files,
    }))
}

/// One solve of `a` (the matrix of `case`) by `solver` on `be`, through the pipeline's
/// [`crate::pipeline::solve`].
pub fn solve_case<B: Backend>(be: &B, case: &Case, a: &CsrMatrix, solver: Eigensolver) -> Result<Value> {
    let opts = SolveOptions {
        states: case.states,
        tolerance: case.tol,
        // (Lanczos needs ~13 000 products on wire840; a stalled solve stops here)
        max_matvecs: 50_000,
        block_size: case.degeneracy,
        force_iterative: true,
        filter_degree: DEFAULT_FILTER_DEGREE,
        eigensolver: solver,
        dims: Some(case.dims),
    };
    let t = Instant::now();
    let sol = crate::pipeline::solve(be, a, &opts, None, &mut |_| {})?;
    let seconds = t.elapsed().as_secs_f64();
    let rel: Vec<f64> = sol.residuals.iter().map(|r| r / sol.norm_estimate).collect();
    Ok(json!({
        "case": case.name, "unknowns": case.unknowns(), "backend": sol.backend, "solver": sol.method,
        "asked": solver.as_str(), "seconds": seconds, "eigensolver_s": sol.eigensolver_s,
        "preconditioner_setup_s": sol.preconditioner_setup_s, "host_refinement_s": sol.refine_s,
        "host_ops": sol.host_ops,
        "us_per_unknown": 1e6 * seconds / case.unknowns() as f64,
        "outer_iterations": sol.outer_iterations, "matvecs": sol.matvecs, "host_syncs": sol.host_syncs,
        "converged": sol.converged, "tolerance_used": sol.tolerance, "values_ev": sol.energies,
        "relative_residuals": rel, "max_relative_residual": rel.iter().copied().fold(0.0, f64::max),
        "notices": sol.notices,
    }))
}

fn io(e: std::io::Error) -> QdError {
    QdError::io("writing the benchmark table", e)
}

/// Run `cases` on `be` with each of `solvers`, print a table to `out`; writes the matrices
/// and the manifest first where asked. Returns every figure as JSON.
pub fn run<B: Backend>(
    be: &B,
    cases: &[Case],
    solvers: &[Eigensolver],
    export_mtx: Option<&Path>,
    export_csr: Option<&Path>,
    out: &mut dyn Write,
) -> Result<Value> {
    writeln!(
        out,
        "\neigensolvers on the {} backend ({} bits): ‖Hψ − Eψ‖ ≤ tol·‖H‖∞ per pair; wire: 2D GaAs disc r = {WIRE_RADIUS_NM} nm in {WIRE_DOMAIN_NM} nm of Al0.3Ga0.7As; dot: 3D sphere r = 10 nm in a 40 nm cube",
        be.name(),
        be.precision_bits()
    )
    .map_err(io)?;
    writeln!(
        out,
        "  {:<8} {:>9} {:>3} {:>6} {:<8} {:>9} {:>8} {:>7} {:>8} {:>7} {:>9} {:>5}",
        "case", "unknowns", "k", "tol", "solver", "seconds", "µs/unkn", "outer", "products", "syncs", "max res", "conv"
    )
    .map_err(io)?;
    let mut rows = Vec::new();
    let mut manifest = Vec::new();
    for case in cases {
        let a = case.matrix()?;
        if export_mtx.is_some() || export_csr.is_some() {
            manifest.push(export(case, &a, export_mtx, export_csr)?);
        }
        for &s in solvers {
            let r = solve_case(be, case, &a, s)?;
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            writeln!(
                out,
                "  {:<8} {:>9} {:>3} {:>6.0e} {:<8} {:>9.3} {:>8.2} {:>7} {:>8} {:>7} {:>9.1e} {:>5}",
                case.name,
                case.unknowns(),
                case.states,
                case.tol,
                r["solver"].as_str().unwrap_or("?"),
                f("seconds"),
                f("us_per_unknown"),
                r["outer_iterations"].as_u64().unwrap_or(0),
                r["matvecs"].as_u64().unwrap_or(0),
                r["host_syncs"].as_u64().unwrap_or(0),
                f("max_relative_residual"),
                r["converged"]
            )
            .map_err(io)?;
            rows.push(r);
        }
        if let Some(r) = rows.iter().rev().find(|r| r["case"] == case.name.as_str()) {
            let vals: Vec<String> = r["values_ev"].as_array().map(|v| v.iter().map(|x| format!("{:.10}", x.as_f64().unwrap_or(f64::NAN))).collect()).unwrap_or_default();
            writeln!(out, "           eigenvalues (eV): {}", vals.join(" ")).map_err(io)?;
        }
    }
    // growth of the time per unknown between the two sizes of each kind, per solver
    let mut growth = Vec::new();
    for kind in ["wire", "dot"] {
        for &s in solvers {
            let of: Vec<&Value> = rows.iter().filter(|r| r["case"].as_str().is_some_and(|c| c.starts_with(kind)) && r["asked"] == s.as_str()).collect();
            if let (Some(first), Some(last)) = (of.first(), of.last()) {
                if of.len() >= 2 {
                    let g = last["us_per_unknown"].as_f64().unwrap_or(f64::NAN) / first["us_per_unknown"].as_f64().unwrap_or(f64::NAN);
                    let outer = last["outer_iterations"].as_f64().unwrap_or(f64::NAN) / first["outer_iterations"].as_f64().unwrap_or(f64::NAN);
                    writeln!(
                        out,
                        "  {kind} {}: time per unknown ×{g:.2} and outer iterations ×{} from {} to {}",
                        s.as_str(),
                        if outer.is_finite() { format!("{outer:.2}") } else { "— (no restart)".into() },
                        first["case"].as_str().unwrap_or(""),
                        last["case"].as_str().unwrap_or("")
                    )
                    .map_err(io)?;
                    growth.push(json!({"kind": kind, "solver": s.as_str(), "from": first["case"], "to": last["case"], "time_per_unknown_ratio": g, "outer_iterations_ratio": outer}));
                }
            }
        }
    }
    let manifest = Value::Array(manifest);
    for dir in [export_mtx, export_csr].into_iter().flatten() {
        crate::output::write_json(&dir.join("cases.json"), &json!({"cases": manifest, "ours": rows}))?;
        writeln!(out, "  wrote the matrices and {}", dir.join("cases.json").display()).map_err(io)?;
    }
    Ok(json!({"backend": be.name(), "precision_bits": be.precision_bits(), "runs": rows, "growth": growth, "cases": manifest}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuBackend;

    #[test]
    fn cases_parse_and_the_wire_has_its_size() {
        assert_eq!(case("wire420").unwrap().unknowns(), 176_400);
        assert_eq!(case("wire840").unwrap().unknowns(), 705_600);
        assert_eq!(case("dot64").unwrap().dims, [64, 64, 64]);
        assert!(case("wire4").is_err() && case("cube64").is_err() && case("dotx").is_err());
        let a = case("wire24").unwrap().matrix().unwrap();
        assert_eq!(a.nrows, 576);
        assert!(a.asymmetry() < 1e-12);
    }

    #[test]
    fn quick_cases_run_both_solvers_and_export() {
        let dir = std::env::temp_dir().join(format!("qdsim-bench-eigen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cases = vec![case("wire40").unwrap(), case("dot16").unwrap()];
        let mut buf = Vec::new();
        let v = run(&CpuBackend::new(), &cases, &[Eigensolver::Lobpcg, Eigensolver::Lanczos], Some(&dir), Some(&dir), &mut buf).unwrap();
        let runs = v["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|r| r["converged"] == true), "{v}");
        assert_eq!(runs[0]["solver"], "lobpcg");
        assert!(dir.join("wire40.mtx").is_file() && dir.join("dot16_val.npy").is_file() && dir.join("cases.json").is_file());
        // the two solvers agree
        for pair in runs.chunks(2) {
            let (a, b) = (pair[0]["values_ev"].as_array().unwrap(), pair[1]["values_ev"].as_array().unwrap());
            for (x, y) in a.iter().zip(b) {
                assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-6, "{v}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
