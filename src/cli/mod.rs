//! Command-line front end: parses arguments (clap) and the environment ([`env`], the only
//! reader of environment variables), runs the pipeline in [`crate::pipeline`], prints a
//! summary and maps outcomes to exit codes (0 converged, 2 bad input, 3 not converged,
//! 1 internal error).

pub mod env;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{QdError, Result, EXIT_INTERNAL, EXIT_NOT_CONVERGED, EXIT_OK};
use crate::scene::BackendChoice;
use crate::pipeline::report::{DeviceResults, SchrodingerResults};
use crate::pipeline::{self, Results, RunOptions};

const EXAMPLES: &str = "\
Examples:
  qdsim-gpu solve scenes/quantum_well_1d.json
  qdsim-gpu solve scenes/spherical_dot_3d.json --out /tmp/dot --states 10
  qdsim-gpu solve scenes/spherical_dot_3d.json --backend gpu --adapter 0
  qdsim-gpu solve scenes/heterojunction_2deg_1d.json      (self-consistent Schrödinger–Poisson)
  qdsim-gpu sweep scenes/sweep_reverse_bias.json
  qdsim-gpu sweep scenes/sweep_dot_radius.json
  qdsim-gpu sweep scenes/quantum_well_1d.json --set regions[0].shape.to=3:8:6 --set regions[0].shape.from=-3:-8:6
  qdsim-gpu materials
  qdsim-gpu materials AlGaAs --x 0.3 --temperature 77
  qdsim-gpu export-matrix scenes/harmonic_2d.json --out H.mtx
  qdsim-gpu info
  qdsim-gpu bench --quick

Exit codes: 0 converged, 2 bad input, 3 not converged (results written and flagged),
1 internal error.";

#[derive(Parser, Debug)]
#[command(name = "qdsim-gpu", version, about = "Effective-mass simulator of semiconductor quantum dots, wells and wires", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    /// A hardware GPU if one is available and the problem fits it, else the CPU
    Auto,
    /// The multithreaded CPU backend
    Cpu,
    /// The GPU backend (WGSL through wgpu; software adapters such as lavapipe included)
    Gpu,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Cpu => BackendChoice::Cpu,
            BackendArg::Gpu => BackendChoice::Gpu,
        }
    }
}

/// What `solve` and `sweep` may override in the scene, and the adapter they use.
#[derive(Args, Debug)]
struct Overrides {
    /// Backend, overriding the scene's solve.backend
    #[arg(long, value_enum)]
    backend: Option<BackendArg>,
    /// Number of states, overriding the scene's solve.states
    #[arg(long)]
    states: Option<usize>,
    /// GPU adapter: an index from `qdsim-gpu info` or a name substring (also QDSIM_ADAPTER)
    #[arg(long)]
    adapter: Option<String>,
}

impl Overrides {
    /// The run options these give, writing to `out`, with the GPU settings `gpu` (see
    /// [`env::gpu_settings`]) and the adapter from `--adapter` or `QDSIM_ADAPTER`.
    fn run_options(self, out: Option<PathBuf>, gpu: env::GpuSettings) -> RunOptions {
        RunOptions {
            out,
            backend: self.backend.map(Into::into),
            states: self.states,
            adapter: env::adapter(self.adapter),
            gpu: gpu.options,
            gpu_precision: gpu.precision,
            gpu_invalid: gpu.invalid,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Solve a scene: the lowest states (mode schrodinger), or a device's potential, carriers and states (modes poisson, self_consistent), written to an output folder
    #[command(after_help = "Example: qdsim-gpu solve scenes/quantum_well_1d.json --out well.out")]
    Solve {
        /// Scene file (JSON, see docs/scene-format.md)
        scene: PathBuf,
        /// Output folder (default: <scene>.out next to the scene). An earlier output folder of
        /// qdsim-gpu there is replaced as a whole, atomically; anything else is refused (exit 2)
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        overrides: Overrides,
        /// No progress bar and no summary (errors are still printed)
        #[arg(long, short)]
        quiet: bool,
        /// Print the backend's transfer and allocation statistics
        #[arg(long)]
        stats: bool,
        /// GPU arithmetic: f32 (every adapter) or f64 (adapters with 64-bit float shaders;
        /// also QDSIM_GPU_PRECISION)
        #[arg(long, value_parser = ["f32", "f64"])]
        gpu_precision: Option<String>,
        /// Where the GPU backend keeps its arrays (an emulation of unified memory):
        /// gpu-only (default), cpu-only, unified or adaptive (also QDSIM_GPU_PLACEMENT)
        #[arg(long, value_parser = ["cpu-only", "gpu-only", "unified", "adaptive"])]
        placement: Option<String>,
    },
    /// Sweep scene values (JSON paths) over lists or ranges: one solve per point, each started
    /// from the previous solution; writes sweep.csv, sweep.json and levels.png
    #[command(after_help = "Examples:\n  qdsim-gpu sweep scenes/sweep_dot_radius.json\n  qdsim-gpu sweep scenes/spherical_dot_3d.json --set regions[0].shape.radius=5:15:11\n  qdsim-gpu sweep scenes/quantum_well_1d.json --set background.x=0.1,0.2,0.3,0.4 --keep-points\n\nSeveral --set with the same number of values are swept together (point i takes the i-th\nvalue of each). Values: a list 5,7.5,10 or a range from:to:count (both ends included).\nExit codes: 0 all points converged, 2 bad input (nothing is solved or written),\n3 some point did not converge (results written and flagged), 1 internal error.")]
    Sweep {
        /// Scene file (JSON, see docs/scene-format.md)
        scene: PathBuf,
        /// PATH=VALUES: a scene field by JSON path and its values (5,7.5,10 or 5:15:11);
        /// repeat to sweep several fields together. Without it the scene's sweep block is used
        #[arg(long = "set", value_name = "PATH=VALUES")]
        set: Vec<String>,
        /// Output folder (default: <scene>.sweep next to the scene). An earlier output folder of
        /// qdsim-gpu there is replaced as a whole, atomically; anything else is refused (exit 2)
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        overrides: Overrides,
        /// Keep every point's full output (the files `solve` writes) in points/NNN/
        #[arg(long)]
        keep_points: bool,
        /// Start every point from a random block instead of the previous point's solution
        #[arg(long)]
        cold: bool,
        /// No progress and no summary (errors are still printed)
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the built-in materials, or one material's parameters with units and sources
    #[command(after_help = "Examples:\n  qdsim-gpu materials\n  qdsim-gpu materials InAs --temperature 4\n  qdsim-gpu materials InGaAs --x 0.2")]
    Materials {
        /// Material name (case-insensitive); omit to list all
        name: Option<String>,
        /// Alloy fraction for an alloy
        #[arg(long)]
        x: Option<f64>,
        /// Temperature for the derived band edges, K
        #[arg(long, short, default_value_t = 300.0)]
        temperature: f64,
        /// Extra materials file (the format of docs/materials.md) to merge first
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Show the backends available and the number of threads
    Info,
    /// Strong or weak scaling of the distributed backend: run under `mpirun -np N` (build
    /// with `--features mpi`); times a product with its halo exchange, a CG iteration and
    /// the lowest states on the 3D dot Hamiltonian
    #[command(
        after_help = "Examples:\n  mpirun -np 2 qdsim-gpu scaling --mode weak --size 64\n  mpirun -np 2 qdsim-gpu scaling --mode strong --size 128 --gpu --json strong.json"
    )]
    Scaling {
        /// strong: an n³ grid over all ranks; weak: n × n × (n·ranks), n³ cells per rank
        #[arg(long, default_value = "weak", value_parser = ["weak", "strong"])]
        mode: String,
        /// n, cells per axis of the cube
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Each rank on a GPU adapter (node-local rank mod adapters, or --adapter)
        #[arg(long)]
        gpu: bool,
        /// Adapter index or name, or one per rank comma-separated
        #[arg(long)]
        adapter: Option<String>,
        /// Timed products
        #[arg(long, default_value_t = 50)]
        repetitions: usize,
        /// Timed CG iterations
        #[arg(long, default_value_t = 100)]
        cg_iterations: usize,
        /// Lowest states for the eigensolver timing (0 skips it)
        #[arg(long, default_value_t = 10)]
        states: usize,
        /// Write the figures as JSON to this file (rank 0)
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Benchmarks: memory copy rate, spmv on 3D dot Hamiltonians (GB/s), time to the lowest states
    #[command(
        after_help = "Examples:\n  qdsim-gpu bench --quick\n  qdsim-gpu bench --sizes 64,128 --json bench.json\n  qdsim-gpu bench --poisson --poisson-sizes 64,128"
    )]
    Bench {
        /// Smoke run: tiny sizes, few repetitions
        #[arg(long)]
        quick: bool,
        /// Grid sizes n of the n³ dot Hamiltonians for spmv
        #[arg(long, value_delimiter = ',')]
        sizes: Option<Vec<usize>>,
        /// Timed repetitions per measurement
        #[arg(long)]
        repetitions: Option<usize>,
        /// Skip the eigensolver benchmark
        #[arg(long)]
        no_eigen: bool,
        /// Grid size n of the eigensolver benchmark (n³ dot)
        #[arg(long)]
        eigen_size: Option<usize>,
        /// Write every figure as JSON to this file
        #[arg(long)]
        json: Option<PathBuf>,
        /// Also benchmark the GPU backend (adapter from --adapter / QDSIM_ADAPTER)
        #[arg(long)]
        gpu: bool,
        /// Skip the CPU part
        #[arg(long)]
        no_cpu: bool,
        /// Grid sizes n for the GPU spmv
        #[arg(long, value_delimiter = ',', default_value = "64,128,208")]
        gpu_sizes: Vec<usize>,
        /// Grid size n of the GPU eigensolver benchmark
        #[arg(long, default_value_t = 128)]
        gpu_eigen_size: usize,
        /// GPU adapter by index or name substring
        #[arg(long)]
        adapter: Option<String>,
        /// Write the GPU benchmark matrices as .npy CSR arrays into this folder (for scripts/cupy_reference.py)
        #[arg(long)]
        export_csr: Option<PathBuf>,
        /// Placement of the GPU backend's arrays: gpu-only (default), cpu-only, unified or
        /// adaptive (also QDSIM_GPU_PLACEMENT)
        #[arg(long, value_parser = ["cpu-only", "gpu-only", "unified", "adaptive"])]
        placement: Option<String>,
        /// Chebyshev filter degree of the GPU eigensolver benchmark (default: the solver's)
        #[arg(long)]
        filter_degree: Option<usize>,
        /// Run the Poisson benchmark instead (PCG with Jacobi and multigrid; with --gpu also on the GPU)
        #[arg(long)]
        poisson: bool,
        /// Grid sizes n of the n³ Poisson problems
        #[arg(long, value_delimiter = ',', default_value = "64,128")]
        poisson_sizes: Vec<usize>,
        /// Skip the Jacobi-PCG runs of the Poisson benchmark (slow at 128³)
        #[arg(long)]
        no_jacobi: bool,
        /// Chebyshev smoother degree of the multigrid preconditioner
        #[arg(long)]
        smoother_degree: Option<usize>,
        /// Chebyshev smoothing interval [λmax/ratio, λmax] of the multigrid smoother
        #[arg(long)]
        smoothing_ratio: Option<f64>,
        /// Multigrid coarse-coupling scale (0.5: over-correction of the aggregation; 1: plain Galerkin)
        #[arg(long)]
        coupling_scale: Option<f64>,
        /// Multigrid cycle: 1 = V-cycle, 2 = W-cycle
        #[arg(long)]
        cycle_index: Option<usize>,
        /// Lanczos runs of the eigensolver benchmark as block:basis pairs (basis 0: the
        /// solver's default), the first the reference, e.g. 1:0,3:0,3:80 (default 3:0)
        #[arg(long)]
        lanczos_configs: Option<String>,
        /// Write the n³ dot Hamiltonian (n = --eigen-size, default 64) to this Matrix Market
        /// file and stop (for scripts/scipy_eigsh.py)
        #[arg(long)]
        export_matrix: Option<PathBuf>,
    },
    /// Write a scene's Hamiltonian (eV) in Matrix Market format
    #[command(name = "export-matrix", after_help = "Example: qdsim-gpu export-matrix scenes/spherical_dot_3d.json --out H.mtx")]
    ExportMatrix {
        scene: PathBuf,
        /// Matrix Market file to write (through a temp file; only a file that export-matrix
        /// wrote is replaced)
        #[arg(long)]
        out: PathBuf,
    },
}

/// eprintln! on rank 0 only (every rank of an MPI job reaches the same outcome); a closed
/// standard error is not a panic.
macro_rules! root_eprintln {
    ($($t:tt)*) => {
        if crate::parallel::is_root() {
            stdio::eprint_line(&format!($($t)*))
        }
    };
}

/// println! through [`stdio`]: a closed standard output ends the output, a full one is
/// reported at the end, neither is a panic.
macro_rules! outln {
    ($($t:tt)*) => {
        stdio::print_line(&format!($($t)*))
    };
}

/// The program's standard output and error. `println!` panics when stdout is a closed pipe
/// (`qdsim-gpu info | head -1`) or a full device (`> /dev/full`); everything the CLI prints
/// goes through here instead. A closed pipe (EPIPE) is the end of output: later lines are
/// dropped and the exit code is that of the work. Any other write error is kept, later
/// lines are dropped, and [`finish`] reports it (exit 1, one line).
pub mod stdio {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    static CLOSED: AtomicBool = AtomicBool::new(false);
    static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

    fn record(e: std::io::Error) {
        CLOSED.store(true, Ordering::SeqCst);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut f = FAILED.lock().unwrap_or_else(|p| p.into_inner());
            f.get_or_insert(e);
        }
    }

    fn write_bytes(b: &[u8], flush: bool) {
        if CLOSED.load(Ordering::SeqCst) {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(b).and_then(|_| if flush { out.flush() } else { Ok(()) }) {
            record(e);
        }
    }

    /// Prints `line` and a newline to standard output.
    pub fn print_line(line: &str) {
        let mut s = String::with_capacity(line.len() + 1);
        s.push_str(line);
        s.push('\n');
        write_bytes(s.as_bytes(), true);
    }

    /// Prints `line` and a newline to standard error in one write (the lines of several
    /// MPI ranks do not interleave); a closed or full standard error is ignored.
    pub fn eprint_line(line: &str) {
        let mut s = String::with_capacity(line.len() + 1);
        s.push_str(line);
        s.push('\n');
        let _ = std::io::stderr().write_all(s.as_bytes());
    }

    /// Standard output as a writer (for the benchmarks' reports), with the same rules:
    /// it never fails, errors are kept for [`finish`].
    pub struct Stdout;

    impl Write for Stdout {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            write_bytes(buf, false);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            write_bytes(&[], true);
            Ok(())
        }
    }

    /// Flushes standard output; the write error to report, if any (a closed pipe is none).
    pub fn finish() -> Option<std::io::Error> {
        write_bytes(&[], true);
        FAILED.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Whether a panic message is std's "failed printing to stdout/stderr" (a `println!`
    /// somewhere that met a closed or full stream), and if so whether it was a closed pipe.
    pub fn print_panic(msg: &str) -> Option<bool> {
        (msg.starts_with("failed printing to stdout") || msg.starts_with("failed printing to stderr"))
            .then(|| msg.contains("Broken pipe") || msg.contains("os error 32"))
    }
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    // a println! that meets a closed or full stream is handled below, without the default
    // hook's panic message and backtrace note
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload_as_str().and_then(stdio::print_panic).is_none() {
            default_hook(info)
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version with exit 0 and usage errors with exit 2; a closed
            // pipe ends the help quietly, a full stdout is one line and exit 1
            return match e.print() {
                Err(w) if w.kind() != std::io::ErrorKind::BrokenPipe && e.exit_code() == EXIT_OK => {
                    stdio::eprint_line(&format!("error: writing to standard output: {w}"));
                    EXIT_INTERNAL
                }
                _ => e.exit_code(),
            };
        }
    };
    // MPI (feature `mpi`): every rank runs the same command; kept until the end of main
    let _mpi = crate::parallel::init(&env::parallel_init());
    let outcome = std::panic::catch_unwind(|| dispatch(cli));
    let stdout_error = stdio::finish();
    if let Some(e) = &stdout_error {
        stdio::eprint_line(&format!("{}error: writing to standard output: {e}", rank_prefix()));
    }
    match outcome {
        Ok(Ok(code)) if code == EXIT_OK && stdout_error.is_some() => crate::parallel::abort_job(EXIT_INTERNAL),
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            stdio::eprint_line(&format!("{}error: {e}", rank_prefix()));
            crate::parallel::abort_job(e.exit_code())
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            match stdio::print_panic(&msg) {
                // a println! outside this module met a closed pipe: the end of output
                Some(true) => EXIT_OK,
                Some(false) => {
                    stdio::eprint_line(&format!("{}error: {}", rank_prefix(), msg.replacen("failed printing to", "writing to standard", 1).replacen("standard stdout", "standard output", 1).replacen("standard stderr", "standard error", 1)));
                    crate::parallel::abort_job(EXIT_INTERNAL)
                }
                None => {
                    stdio::eprint_line(&format!("{}internal error: {msg} (this is a bug; please report it with the scene)", rank_prefix()));
                    crate::parallel::abort_job(EXIT_INTERNAL)
                }
            }
        }
    }
}

/// "rank r of N (host): " in an MPI job of several ranks, else nothing.
fn rank_prefix() -> String {
    match crate::parallel::world() {
        Some(w) if w.size() > 1 => format!("rank {} of {} ({}): ", w.rank(), w.size(), w.host()),
        _ => String::new(),
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
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
        } => {
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
                v["gpu"] = crate::bench::gpu::run(&g, &sizes, eig, o.nev, reps, degree, export_csr.as_deref(), &mut stdio::Stdout)?;
            }
            if let Some(path) = json {
                crate::output::write_json(&path, &v)?;
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
                "qdsim-gpu {} Hamiltonian of {} ({} cells {:?}, spacing {:?} nm), energies in eV, x-fastest cell order",
                env!("CARGO_PKG_VERSION"),
                scene.display(),
                p.grid.len(),
                p.grid.dims(),
                &p.grid.h[..p.grid.dim]
            );
            // through a temp file renamed into place: a failure leaves no half-written file
            crate::output::write_file_atomically(&out, &inputs, is_our_matrix_market, |tmp| h.write_matrix_market(tmp, &comment))?;
            stdio::eprint_line(&format!("wrote {} ({} × {}, {} nonzeros)", out.display(), h.nrows, h.nrows, h.nnz()));
            Ok(EXIT_OK)
        }
    }
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
    crate::output::preflight(out, &loaded.input_files())
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

/// A number as results.json writes it (serde_json's shortest form; null when not finite).
fn json_number(x: f64) -> String {
    serde_json::to_string(&x).unwrap_or_default()
}

/// A peak-memory figure in MiB (NaN when unknown).
fn mib(peak: Option<Option<u64>>) -> f64 {
    peak.flatten().map_or(f64::NAN, |b| b as f64) / 1048576.0
}

/// The progress of setup phases (painting the regions, sampling the interfaces) that run
/// longer than about a second: a bar of its own, or the message of `host` (the sweep's bar).
fn setup_progress(quiet: bool, host: Option<ProgressBar>) -> Box<dyn FnMut(&crate::grid::SetupProgress)> {
    let mut phase: Option<(&'static str, std::time::Instant)> = None;
    let mut bar: Option<ProgressBar> = None;
    let mut saved: Option<String> = None;
    Box::new(move |p: &crate::grid::SetupProgress| {
        if quiet {
            return;
        }
        if p.done == 0 || phase.map(|f| f.0) != Some(p.phase) {
            phase = Some((p.phase, std::time::Instant::now()));
        }
        let long = phase.is_some_and(|f| f.1.elapsed().as_secs_f64() > 1.0);
        let pct = 100.0 * p.done as f64 / p.total.max(1) as f64;
        match &host {
            Some(h) if p.done < p.total && long => {
                let m = saved.get_or_insert_with(|| h.message());
                h.set_message(format!("{m}  setup: {} {pct:.0}%", p.phase));
            }
            Some(h) => {
                if let Some(m) = saved.take() {
                    h.set_message(m);
                }
            }
            None => {
                if bar.is_none() && p.done < p.total && long {
                    let b = ProgressBar::new(p.total as u64).with_elapsed(phase.map_or_else(Default::default, |f| f.1.elapsed()));
                    b.set_style(
                        ProgressStyle::with_template("{spinner} {elapsed_precise} setup: {msg} {wide_bar} {percent}%")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar = Some(b);
                }
                if let Some(b) = &bar {
                    b.set_message(p.phase);
                    b.set_length(p.total as u64);
                    b.set_position(p.done as u64);
                    if p.done >= p.total {
                        b.finish_and_clear();
                        bar = None;
                    }
                }
            }
        }
    })
}

fn print_device_summary(res: &DeviceResults, out_dir: &std::path::Path) {
    let g = &res.grid;
    outln!(
        "{}: {} grid {} ({} unknowns), mode {} on {}",
        res.scene_file,
        g.dimension,
        serde_json::to_string(&g.cells).unwrap_or_default(),
        g.unknowns,
        res.mode,
        res.backend.name
    );
    let c = &res.classical_poisson;
    outln!("  classical Poisson: {} Newton steps ({} PCG iterations), converged {}", c.iterations, c.cg_iterations, c.converged);
    outln!("  potential span {:.4} V; Fermi levels: electrons {:.4} eV, holes {:.4} eV", res.potential_v.span, res.fermi_levels_ev.electrons, res.fermi_levels_ev.holes);
    let ch = &res.charge;
    let unit = ch.unit;
    outln!("  electrons {:.4e} {unit}, holes {:.4e} {unit}, net charge {:.4e} {unit}", ch.electrons, ch.holes, ch.net);
    if let Some(q) = &res.quantum {
        outln!("  self-consistent in {} iterations; quantum region {} cells, {:.4e} electrons ({})", res.self_consistency.iterations, q.cells, q.electrons_total, q.electrons_unit);
        outln!("  state    energy (eV)   E - E_F (meV)   electrons");
        let mut unbound = 0;
        for s in &q.states {
            let free = !s.bound;
            unbound += free as usize;
            // (the index unpadded, as it always printed)
            outln!("  {}  {:>13.6}   {:>13.3}   {:.4e}{}", s.index, s.energy_ev, s.energy_minus_ef_mev, s.electrons, if free { "   not bound *" } else { "" });
        }
        if unbound > 0 {
            outln!(
                "  * at or above the continuum edge ({:.6} eV, the lowest band edge on the quantum region's faces inside the domain): not bound by the structure; such states hold no electrons",
                q.continuum_edge_ev.unwrap_or(f64::NAN)
            );
        }
    }
    let t = &res.timings_s;
    outln!("  {} in {:.2} s (solve {:.2}); peak memory {:.0} MiB", res.status.as_str(), t.total, t.solve, mib(res.peak_memory_bytes));
    outln!("  results in {}", out_dir.display());
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
        let params: Vec<String> = spec.parameters.iter().map(|p| pipeline::sweep::label_of(&p.path)).collect();
        outln!("{}: {} points over {}", scene.display(), report.points.len(), params.join(" with "));
        outln!("  point  {:>14}  converged  H·x      E0 (eV)       E1 (eV)     not bound", "value");
        let mut flagged = 0;
        for p in &report.points {
            let v = p.values.first().map(|v| v.to_string()).unwrap_or_default();
            let e = |n: usize| p.energies.get(n).map(|e| format!("{e:>12.6}")).unwrap_or_else(|| format!("{:>12}", "-"));
            let unbound: Vec<String> = pipeline::sweep::unbound_states(p).iter().map(usize::to_string).collect();
            flagged += !unbound.is_empty() as usize;
            outln!(
                "  {:>5}  {:>14}  {:>9}  {:>6}  {}  {}     {}",
                p.index,
                v,
                if p.converged { "yes" } else { "NO" },
                pipeline::sweep::point_matvecs(p),
                e(0),
                e(1),
                if unbound.is_empty() { "-".to_string() } else { unbound.join(",") }
            );
        }
        if flagged > 0 {
            outln!("  not bound: the states above the continuum threshold (results.json `bound: false`, sweep.csv `unbound_states`)");
        }
        let s = &report.summary.summary;
        outln!(
            "  {} H·x in all ({} start), solve {:.2} s, total {:.2} s",
            s.matvecs_total,
            if opts.cold { "cold" } else { "warm" },
            s.solve_s_total,
            s.total_s
        );
        outln!("  results in {}", report.out_dir.display());
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

fn print_summary(res: &SchrodingerResults, out_dir: &std::path::Path) {
    let g = &res.grid;
    outln!(
        "{}: {} grid {} ({} unknowns), {} via {} on {}",
        res.scene_file,
        g.dimension,
        serde_json::to_string(&g.cells).unwrap_or_default(),
        g.unknowns,
        res.carrier,
        res.solver.method,
        res.backend.name,
    );
    outln!("  state    energy (eV)   above band edge (meV)   residual (eV)");
    let mut unbound = 0;
    for s in &res.states {
        let free = !s.bound;
        unbound += free as usize;
        // (the index unpadded, as it always printed)
        outln!(
            "  {}  {:>13.6}   {:>21.3}   {:>13.2e}{}",
            s.index,
            s.energy_ev,
            s.energy_above_band_edge_mev,
            s.residual_ev,
            if free { "   not bound *" } else { "" }
        );
    }
    if unbound > 0 {
        outln!(
            "  * at or above the continuum threshold ({:.6} eV, the lowest energy at which a state can leave through the domain's boundary): not bound by the structure, confined only by the domain's walls",
            res.reference.continuum_threshold_ev.unwrap_or(f64::NAN)
        );
    }
    let t = &res.timings_s;
    outln!(
        "  {} in {:.2} s (setup {:.2}, assemble {:.2}, solve {:.2}, output {:.2}); peak memory {:.0} MiB",
        res.status.as_str(),
        t.total,
        t.setup,
        t.assemble,
        t.solve,
        t.output,
        res.peak_memory_bytes.flatten().map_or(0.0, |b| b as f64) / 1048576.0
    );
    outln!("  results in {}", out_dir.display());
}
