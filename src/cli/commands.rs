//! The subcommands: `solve`, `sweep`, `materials`, `info`, `scaling`, `bench` and
//! `export-matrix`, each from its parsed arguments to an exit code.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{QdError, Result, EXIT_NOT_CONVERGED, EXIT_OK};
use crate::pipeline::{self, Results};

use super::args::{BackendArg, Cli, Command, Overrides};
use super::env;
use super::progress::setup_progress;
use super::stdio;
use super::summary::{json_number, print_device_summary, print_summary, print_sweep};

pub(super) fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Solve { scene, out, overrides, quiet, stats, gpu_precision, placement } => {
            if gpu_precision.is_some() && matches!(overrides.backend, Some(BackendArg::Cpu)) {
                return Err(QdError::input("--gpu-precision", "sets the GPU's arithmetic, but --backend cpu was given (the CPU computes in f64): drop one of them"));
            }
            let quiet = quiet || !crate::parallel::is_root();
            solve(scene, out, overrides, gpu_precision, placement, quiet, stats && crate::parallel::is_root())
        }
        Command::Sweep { scene, set, out, overrides, keep_points, cold, quiet } => {
            sweep(scene, set, out, overrides, keep_points, cold, quiet || !crate::parallel::is_root())
        }
        Command::Materials { name, x, temperature, file } => {
            let mut db = crate::materials::MaterialDb::builtin();
            if let Some(f) = file {
                db.merge_file(&f)?;
            }
            let text = crate::materials::describe(&db, name.as_deref(), x, temperature)
                .map_err(|e| QdError::input(name.clone().unwrap_or_else(|| "materials".into()), e))?;
            outln!("{text}");
            Ok(EXIT_OK)
        }
        Command::Info => {
            let be = crate::backend::CpuBackend::new();
            outln!("qdsim-gpu {}", env!("CARGO_PKG_VERSION"));
            outln!("backends:");
            outln!("  cpu   available   rayon, {} threads (set RAYON_NUM_THREADS to change)", be.threads());
            let adapters = crate::backend::gpu::list_adapters();
            if adapters.is_empty() {
                outln!("  gpu   no adapter found (Vulkan, Metal or DX12)");
            }
            for a in &adapters {
                outln!(
                    "  gpu   [{}] {} | {} | {} | driver {} | f64 {} | push constants {} | max storage binding {} MiB, max buffer {} MiB, {} workgroups per dimension",
                    a.index,
                    a.name,
                    a.api,
                    a.device_type,
                    a.driver,
                    if a.f64 { "yes" } else { "no" },
                    if a.immediates { "yes" } else { "no" },
                    a.max_storage_binding_bytes >> 20,
                    a.max_buffer_bytes >> 20,
                    a.max_workgroups_per_dimension
                );
            }
            let hw = adapters.iter().find(|a| a.device_type != "Cpu" && a.immediates);
            match hw {
                Some(a) => outln!(
                    "auto selects: gpu [{}] {} (for problems of at least {} unknowns that fit it; cpu below)",
                    a.index,
                    a.name,
                    crate::backend::select::AUTO_GPU_MIN_UNKNOWNS
                ),
                None => outln!("auto selects: cpu (no hardware GPU adapter; `--backend gpu` uses a software one if listed)"),
            }
            if let Some(m) = pipeline::prepare::available_memory() {
                outln!("memory available: {:.1} GiB", m as f64 / (1u64 << 30) as f64);
            }
            Ok(EXIT_OK)
        }
        Command::Scaling { mode, size, gpu, adapter, repetitions, cg_iterations, states, json } => {
            let gpu_options = if gpu { env::gpu_options(None, None)? } else { Default::default() };
            let o = crate::bench::mpi::ScalingOptions { n: size, weak: mode == "weak", gpu, adapter: env::adapter(adapter), gpu_options, repetitions, cg_iterations, states };
            let v = crate::bench::mpi::run(&o)?;
            if crate::parallel::is_root() {
                let e = &v["eigen"];
                outln!(
                    "{} scaling, {} rank(s), grid {} ({} unknowns), {}: spmv {:.3} ms, CG {:.3} ms/iteration, {} states {} s ({} H·x, {:.3} ms each)",
                    v["mode"].as_str().unwrap_or(""),
                    v["ranks"],
                    v["grid"],
                    v["unknowns"],
                    v["backend"].as_str().unwrap_or(""),
                    v["spmv_ms"].as_f64().unwrap_or(f64::NAN),
                    v["cg_ms_per_iteration"].as_f64().unwrap_or(f64::NAN),
                    e["states"],
                    e["seconds"].as_f64().map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into()),
                    e["matvecs"],
                    e["ms_per_matvec"].as_f64().unwrap_or(f64::NAN),
                );
                if let Some(p) = json {
                    crate::output::write_json(&p, &v)?;
                }
            }
            Ok(EXIT_OK)
        }
        Command::Bench {
            quick,
            sizes,
            repetitions,
            no_eigen,
            no_regime,
            eigen_size,
            json,
            gpu,
            no_cpu,
            gpu_sizes,
            gpu_eigen_size,
            adapter,
            export_csr,
            placement,
            filter_degree,
            poisson,
            poisson_sizes,
            no_jacobi,
            smoother_degree,
            smoothing_ratio,
            coupling_scale,
            cycle_index,
            lanczos_configs,
            export_matrix,
            eigensolvers,
            eigen_cases,
            eigen_solvers,
            profile_kernels,
        } => {
            if eigensolvers {
                let cases = match eigen_cases {
                    Some(names) => names.iter().map(|n| crate::bench::eigen::case(n.trim())).collect::<Result<Vec<_>>>()?,
                    None => crate::bench::eigen::cases(quick),
                };
                let solvers: Vec<crate::scene::Eigensolver> = match eigen_solvers {
                    Some(s) => s.into_iter().map(Into::into).collect(),
                    None => vec![crate::scene::Eigensolver::Lobpcg, crate::scene::Eigensolver::Lanczos],
                };
                let mut v = serde_json::json!({});
                let mut stdout = stdio::Stdout;
                if !no_cpu {
                    let be = crate::backend::CpuBackend::new();
                    v["eigensolvers_cpu"] = crate::bench::eigen::run(&be, &cases, &solvers, export_matrix.as_deref(), export_csr.as_deref(), &mut stdout)?;
                }
                if gpu {
                    let options = crate::backend::gpu::GpuOptions { profile_kernels, ..env::gpu_options(None, placement.as_deref())? };
                    let g = crate::backend::GpuBackend::with_options(env::adapter(adapter).as_deref(), true, options)?
                        .ok_or_else(|| QdError::input("--gpu", "no GPU adapter is available (`qdsim-gpu info` lists them)"))?;
                    // (the matrices are written once, by the CPU part unless it is skipped)
                    let (m, c) = if no_cpu { (export_matrix.as_deref(), export_csr.as_deref()) } else { (None, None) };
                    if profile_kernels {
                        // one case at a time, each with its own profile
                        let mut runs = Vec::new();
                        for case in &cases {
                            g.memory().start_profile();
                            let mut r = crate::bench::eigen::run(&g, std::slice::from_ref(case), &solvers, m, c, &mut stdout)?;
                            if let Some(p) = g.memory().kernel_profile() {
                                r["kernel_profile"] = crate::bench::gpu::print_kernel_profile(&p, &mut stdout)?;
                            }
                            runs.push(r);
                        }
                        v["eigensolvers_gpu"] = serde_json::Value::Array(runs);
                    } else {
                        v["eigensolvers_gpu"] = crate::bench::eigen::run(&g, &cases, &solvers, m, c, &mut stdout)?;
                    }
                    // buffers created, pool hits, transfers of the whole run
                    v["gpu_memory"] = g.stats().to_json();
                }
                if let Some(path) = json {
                    crate::output::write_json(&path, &v)?;
                }
                return Ok(EXIT_OK);
            }
            if let Some(path) = export_matrix {
                let n = eigen_size.unwrap_or(64);
                if n < 4 {
                    return Err(QdError::input("--eigen-size", "must be at least 4"));
                }
                let (rows, nnz) = crate::bench::export_dot_matrix(n, &path)?;
                stdio::eprint_line(&format!("wrote {} ({rows} rows, {nnz} nonzeros)", path.display()));
                return Ok(EXIT_OK);
            }
            let adapter = env::adapter(adapter);
            // (read only when a GPU is benchmarked: the CPU part ignores the GPU's settings)
            let gpu_options = || env::gpu_options(None, placement.as_deref());
            if poisson {
                let sizes = if quick { vec![16, 24] } else { poisson_sizes };
                if sizes.iter().any(|&n| n < 4) {
                    return Err(QdError::input("--poisson-sizes", "every size must be at least 4"));
                }
                let mut mg = crate::linalg::multigrid::MultigridOptions::default();
                if let Some(d) = smoother_degree {
                    if d == 0 {
                        return Err(QdError::input("--smoother-degree", "must be at least 1"));
                    }
                    mg.smoother_degree = d;
                }
                if let Some(r) = smoothing_ratio {
                    if !(r.is_finite() && r > 1.0) {
                        return Err(QdError::input("--smoothing-ratio", "must be a number above 1"));
                    }
                    mg.smoothing_ratio = r;
                }
                if let Some(c) = cycle_index {
                    if !(1..=3).contains(&c) {
                        return Err(QdError::input("--cycle-index", "must be 1 (V-cycle), 2 (W-cycle) or 3"));
                    }
                    mg.cycle_index = c;
                }
                if let Some(c) = coupling_scale {
                    if !(c.is_finite() && c > 0.0 && c <= 1.0) {
                        return Err(QdError::input("--coupling-scale", "must be in (0, 1]"));
                    }
                    mg.coupling_scale = c;
                }
                let mut v = serde_json::json!({});
                let mut stdout = stdio::Stdout;
                if !no_cpu {
                    let be = crate::backend::CpuBackend::new();
                    v["poisson_cpu"] = crate::bench::poisson_run(&be, &sizes, 1e-8, !no_jacobi, &mg, &mut stdout)?;
                }
                if gpu {
                    let g = crate::backend::GpuBackend::with_options(adapter.as_deref(), true, gpu_options()?)?
                        .ok_or_else(|| QdError::input("--gpu", "no GPU adapter is available (`qdsim-gpu info` lists them)"))?;
                    // f32 vectors reach about 1e-6 relative residual
                    let tol = if crate::linalg::Backend::precision_bits(&g) == 64 { 1e-8 } else { 1e-5 };
                    v["poisson_gpu"] = crate::bench::poisson_run(&g, &sizes, tol, !no_jacobi, &mg, &mut stdout)?;
                }
                if let Some(path) = json {
                    crate::output::write_json(&path, &v)?;
                }
                return Ok(EXIT_OK);
            }
            let mut o = crate::bench::BenchOptions { quick, eigen: !no_eigen, ..Default::default() };
            if let Some(s) = sizes {
                if s.iter().any(|&n| n < 4) {
                    return Err(QdError::input("--sizes", "every size must be at least 4"));
                }
                o.sizes = s;
            }
            if let Some(r) = repetitions {
                o.repetitions = r.max(1);
            }
            if let Some(c) = lanczos_configs {
                o.lanczos_configs = crate::bench::parse_lanczos_configs(&c)?;
            }
            if let Some(n) = eigen_size {
                if n < 8 {
                    return Err(QdError::input("--eigen-size", "must be at least 8"));
                }
                o.eigen_size = n;
            }
            let mut v = if no_cpu { serde_json::json!({}) } else { crate::bench::run(&o, &mut stdio::Stdout)? };
            if gpu {
                let g = crate::backend::GpuBackend::with_options(adapter.as_deref(), true, gpu_options()?)?
                    .ok_or_else(|| QdError::input("--gpu", "no GPU adapter is available (`qdsim-gpu info` lists them)"))?;
                let (sizes, esize) = if quick { (vec![16, 24], 16) } else { (gpu_sizes, gpu_eigen_size) };
                let reps = if quick { 2 } else { 200 };
                let eig = if no_eigen { None } else { Some(esize) };
                let degree = filter_degree.unwrap_or(pipeline::DEFAULT_FILTER_DEGREE);
                v["gpu"] = crate::bench::gpu::run(&g, &sizes, eig, o.nev, reps, degree, !no_regime, export_csr.as_deref(), &mut stdio::Stdout)?;
            }
            if let Some(path) = json {
                crate::output::write_json(&path, &v)?;
            }
            Ok(EXIT_OK)
        }
        Command::ImportQdsim { config, out } => {
            let imported = crate::scene::qdsim_import::import_file(&config)?;
            let text = serde_json::to_string_pretty(&imported.scene).map_err(|e| QdError::Internal(format!("scene to JSON: {e}")))?;
            if !imported.note.is_empty() {
                stdio::eprint_line(&format!("note: what the conversion assumed or could not map (also in the scene's description):\n{}", imported.note));
            }
            match out {
                Some(path) => {
                    crate::output::write_file_atomically(&path, std::slice::from_ref(&config), is_imported_scene, |tmp| {
                        std::fs::write(tmp, format!("{text}\n")).map_err(|e| QdError::io(format!("writing {}", tmp.display()), e))
                    })?;
                    stdio::eprint_line(&format!("wrote {}", path.display()));
                }
                None => outln!("{text}"),
            }
            Ok(EXIT_OK)
        }
        Command::ExportMatrix { scene, out } => {
            let loaded = crate::scene::load_scene(&scene)?;
            // a folder, an input or a file of the user's at --out is refused before assembling
            let inputs = loaded.input_files();
            crate::output::check_file_target(&out, &inputs, &is_our_matrix_market)?;
            let p = pipeline::prepare(&loaded, 1)?;
            let h = p.hamiltonian();
            let comment = format!(
                "qdsim-gpu {} Hamiltonian of {} ({} cells {:?}, {} {:?} nm), energies in eV, x-fastest cell order{}",
                env!("CARGO_PKG_VERSION"),
                scene.display(),
                p.grid.len(),
                p.grid.dims(),
                if p.grid.is_graded() { "graded, smallest widths" } else { "spacing" },
                &p.grid.h[..p.grid.dim],
                if p.grid.is_graded() { "; graded grid: the symmetrised V^-1/2 A V^-1/2 (V the cell volumes), eigenvectors V^1/2 psi" } else { "" }
            );
            // through a temp file renamed into place: a failure leaves no half-written file
            crate::output::write_file_atomically(&out, &inputs, is_our_matrix_market, |tmp| h.write_matrix_market(tmp, &comment))?;
            stdio::eprint_line(&format!("wrote {} ({} × {}, {} nonzeros)", out.display(), h.nrows, h.nrows, h.nnz()));
            Ok(EXIT_OK)
        }
    }
}

/// Whether `path` is a scene that `import-qdsim` wrote: its description says so near the top.
fn is_imported_scene(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    read.is_ok() && String::from_utf8_lossy(&head).contains("by qdsim-gpu import-qdsim")
}

/// Whether `path` is a Matrix Market file that `export-matrix` wrote: its first line is the
/// Matrix Market banner and its second the comment naming qdsim-gpu.
fn is_our_matrix_market(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    read.is_ok()
        && lines.next().is_some_and(|l| l.starts_with("%%MatrixMarket matrix "))
        && lines.next().is_some_and(|l| l.starts_with("% qdsim-gpu "))
}

/// Refuses a bad output path before the work (the same check is made again when the
/// folder is written): an existing file or folder of the user's, one holding an input, or a
/// path that cannot be created.
fn check_out_early(loaded: &crate::scene::LoadedScene, out: &std::path::Path) -> Result<()> {
    crate::output::preflight_for_rank(out, &loaded.input_files(), crate::parallel::rank())
}

fn solve(scene: PathBuf, out: Option<PathBuf>, overrides: Overrides, gpu_precision: Option<String>, placement: Option<String>, quiet: bool, stats: bool) -> Result<i32> {
    // the scene is read once: the --out check and the run use the same load
    let loaded = crate::scene::load_scene(&scene)?;
    let out_path = out.unwrap_or_else(|| pipeline::default_out_dir(&scene));
    check_out_early(&loaded, &out_path)?;
    let opts = overrides.run_options(Some(out_path), env::gpu_settings(gpu_precision.as_deref(), placement.as_deref())?);
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} states converged {pos}/{len}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let mut progress = |p: &crate::linalg::lanczos::LanczosProgress| {
        bar.set_length(p.wanted as u64);
        bar.set_position(p.converged as u64);
        bar.set_message(format!("{} H·x, {} restarts, worst residual {:.1e}", p.matvecs, p.restarts, p.worst_residual));
    };
    let mut scf_progress = |s: &pipeline::device::ScfStep| {
        bar.set_message(format!(
            "self-consistent iteration {}: max |Δφ| = {:.2e} V, ground state {:.4} eV",
            s.iteration, s.potential_change_v, s.ground_state_ev
        ));
    };
    let report = crate::grid::with_setup_progress(setup_progress(quiet, None), || pipeline::run(&loaded, &opts, None, &mut pipeline::Progress { eigen: &mut progress, scf: &mut scf_progress }));
    bar.finish_and_clear();
    let report = report?;
    if !quiet {
        match &report.results {
            Results::Schrodinger(r) => print_summary(r, &report.out_dir),
            Results::Device(r) => print_device_summary(r, &report.out_dir),
        }
    }
    if stats {
        let solver = match &report.results {
            Results::Schrodinger(r) => Some((r.solver.method.as_str(), r.solver.outer_iterations, r.solver.host_syncs, r.solver.matvecs)),
            Results::Device(r) => r.eigensolver.as_ref().map(|e| (e.method.as_str(), e.outer_iterations, e.host_syncs, e.matvecs)),
        };
        if let Some((method, outer, syncs, matvecs)) = solver {
            outln!("eigensolver: {method}, {outer} outer iterations, {matvecs} products with H, {syncs} host synchronisations");
        }
        let b = report.results.backend();
        match b.details.get("transfers") {
            Some(t) => outln!("transfer statistics: {}", serde_json::to_string_pretty(t).unwrap_or_default()),
            None => outln!("transfer statistics: none (the {} backend keeps everything in host memory)", b.name),
        }
    }
    if report.converged {
        return Ok(EXIT_OK);
    }
    match &report.results {
        Results::Device(r) => match &r.self_consistency.stopped_because {
            Some(why) => root_eprintln!("error: {why}; results were written to {} and flagged \"not_converged\"", report.out_dir.display()),
            None => root_eprintln!(
                "error: the {} solve did not converge within solve.poisson.max_iterations = {} (last potential change {} V, tolerance {} V); results were written to {} and flagged \"not_converged\"",
                r.mode,
                r.scene.solve.poisson_options().max_iterations,
                format!("{:.2e}", r.self_consistency.history.last().map_or(r.classical_poisson.last_update_v, |s| s.potential_change_v)),
                json_number(r.self_consistency.tolerance_v),
                report.out_dir.display()
            ),
        },
        Results::Schrodinger(r) => match &r.reason {
            Some(why) => root_eprintln!("error: {why}; results were written to {} and flagged \"not_converged\"", report.out_dir.display()),
            None => root_eprintln!(
                "error: the eigensolver did not converge within solve.max_iterations = {} operator applications; results were written to {} and flagged \"not_converged\"",
                r.solver.max_matvecs,
                report.out_dir.display()
            ),
        },
    }
    Ok(EXIT_NOT_CONVERGED)
}

fn sweep(scene: PathBuf, set: Vec<String>, out: Option<PathBuf>, overrides: Overrides, keep_points: bool, cold: bool, quiet: bool) -> Result<i32> {
    let loaded = crate::scene::load_scene(&scene)?;
    check_out_early(&loaded, &out.clone().unwrap_or_else(|| pipeline::sweep::default_out_dir(&loaded.path)))?;
    let spec = if set.is_empty() { pipeline::sweep::SweepSpec::from_scene(&loaded)? } else { pipeline::sweep::SweepSpec::from_sets(&set)? };
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(spec.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} point {pos}/{len}  {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    };
    let mut label = String::new();
    let mut on_point = |p: &pipeline::sweep::PointStart| {
        bar.set_position(p.index as u64);
        label = p.label.to_string();
        bar.set_message(label.clone());
    };
    let mut progress = |p: &crate::linalg::lanczos::LanczosProgress| {
        bar.set_message(format!("{} states converged {}/{}, {} H·x", bar.message().split(" states").next().unwrap_or(""), p.converged, p.wanted, p.matvecs));
    };
    // (the GPU settings after the spec: a bad --set is reported before a bad environment value)
    let run = overrides.run_options(None, env::gpu_settings(None, None)?);
    let opts = pipeline::sweep::SweepOptions { run, out, keep_points, cold };
    let report = crate::grid::with_setup_progress(setup_progress(quiet, Some(bar.clone())), || pipeline::sweep::run(&loaded, &spec, &opts, &mut on_point, &mut progress));
    bar.finish_and_clear();
    let report = report?;
    if !quiet {
        print_sweep(&scene, &spec, &report, opts.cold);
    }
    if report.all_converged {
        Ok(EXIT_OK)
    } else {
        let bad: Vec<String> = report.points.iter().filter(|p| !p.converged).map(|p| p.index.to_string()).collect();
        root_eprintln!(
            "error: sweep point(s) {} did not converge; every point was written to {} and flagged in sweep.csv (converged = false)",
            bad.join(", "),
            report.out_dir.display()
        );
        for p in report.points.iter().filter(|p| !p.converged) {
            let why = pipeline::sweep::point_reason(p)
                .map(str::to_string)
                .unwrap_or_else(|| "the iteration limit (solve.max_iterations, or solve.poisson.max_iterations for a device) was reached".into());
            root_eprintln!("  point {}: {why}", p.index);
        }
        Ok(EXIT_NOT_CONVERGED)
    }
}
