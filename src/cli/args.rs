//! The command line: subcommands, flags and their help (clap derive), and how the overrides
//! of `solve` and `sweep` become [`RunOptions`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::pipeline::RunOptions;
use crate::scene::{BackendChoice, Eigensolver};

use super::env;

pub(super) const EXAMPLES: &str = "\
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
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum BackendArg {
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

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(super) enum EigensolverArg {
    /// LOBPCG for Schrödinger solves, Lanczos in device quantum regions
    Auto,
    /// LOBPCG preconditioned by the multigrid of H − σ
    Lobpcg,
    /// Chebyshev-filtered block Lanczos
    Lanczos,
}

impl From<EigensolverArg> for Eigensolver {
    fn from(e: EigensolverArg) -> Self {
        match e {
            EigensolverArg::Auto => Eigensolver::Auto,
            EigensolverArg::Lobpcg => Eigensolver::Lobpcg,
            EigensolverArg::Lanczos => Eigensolver::Lanczos,
        }
    }
}

/// What `solve` and `sweep` may override in the scene, and the adapter they use.
#[derive(Args, Debug)]
pub(super) struct Overrides {
    /// Backend, overriding the scene's solve.backend
    #[arg(long, value_enum)]
    pub(super) backend: Option<BackendArg>,
    /// Number of states, overriding the scene's solve.states
    #[arg(long)]
    pub(super) states: Option<usize>,
    /// Iterative eigensolver, overriding the scene's solve.eigensolver
    #[arg(long, value_enum)]
    pub(super) eigensolver: Option<EigensolverArg>,
    /// GPU adapter: an index from `qdsim-gpu info` or a name substring (also QDSIM_ADAPTER)
    #[arg(long)]
    pub(super) adapter: Option<String>,
}

impl Overrides {
    /// The run options these give, writing to `out`, with the GPU settings `gpu` (see
    /// [`env::gpu_settings`]) and the adapter from `--adapter` or `QDSIM_ADAPTER`.
    pub(super) fn run_options(self, out: Option<PathBuf>, gpu: env::GpuSettings) -> RunOptions {
        RunOptions {
            out,
            backend: self.backend.map(Into::into),
            states: self.states,
            eigensolver: self.eigensolver.map(Into::into),
            adapter: env::adapter(self.adapter),
            gpu: gpu.options,
            gpu_precision: gpu.precision,
            gpu_invalid: gpu.invalid,
            keep_fields: false,
        }
    }
}

#[derive(Subcommand, Debug)]
pub(super) enum Command {
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
        /// Skip the memory-regime reproducer that --gpu runs after its spmv table
        #[arg(long)]
        no_regime: bool,
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
        /// file and stop (for scripts/scipy_eigsh.py). With --eigensolvers: a folder, where
        /// each case's matrix is written as <case>.mtx with a manifest cases.json (for
        /// scripts/scipy_peers.py), and the benchmark runs
        #[arg(long)]
        export_matrix: Option<PathBuf>,
        /// Run the eigensolver benchmark instead: LOBPCG (multigrid-preconditioned) against
        /// block Lanczos on the 2D wire (420², 840² cells, 4 states, tol 1e-9) and the 3D dot
        /// (64³, 128³, 10 states, tol 1e-8); with --gpu also on the GPU; with --export-csr DIR
        /// the matrices as .npy CSR arrays and cases.json (for scripts/cupy_reference.py)
        #[arg(long)]
        eigensolvers: bool,
        /// Cases of --eigensolvers, comma-separated: wire<n> (n × n wire) or dot<n> (n³ dot)
        #[arg(long, value_delimiter = ',')]
        eigen_cases: Option<Vec<String>>,
        /// Solvers of --eigensolvers, comma-separated (default lobpcg,lanczos)
        #[arg(long, value_delimiter = ',', value_enum)]
        eigen_solvers: Option<Vec<EigensolverArg>>,
        /// With --eigensolvers --gpu: a per-kernel profile of each case's GPU solve from GPU
        /// timestamps (kernel, dispatches, device time; busy time against the timeline)
        #[arg(long)]
        profile_kernels: bool,
    },
    /// Convert a QDSim configuration (simple_qd.json / .yaml, or batch_qd.yaml) to a scene: units converted, what has no counterpart listed in a note (stderr, and the scene's description)
    #[command(name = "import-qdsim", after_help = "Example: qdsim-gpu import-qdsim simple_qd.yaml --out scene.json && qdsim-gpu solve scene.json")]
    ImportQdsim {
        /// QDSim configuration file (.json, .yaml or .yml)
        config: PathBuf,
        /// Scene file to write (through a temp file; only a scene that import-qdsim wrote is
        /// replaced). Default: the scene on stdout
        #[arg(long)]
        out: Option<PathBuf>,
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
