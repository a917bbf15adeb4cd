//! The one place that chooses the backend of a solve, for the Schrödinger and the device
//! paths alike: [`select`] turns the scene's `solve.backend` (`auto`, `cpu`, `gpu`), the
//! problem's size and the GPU options into a backend to run on, and the notices that say
//! why when the choice is not the obvious one.
//!
//! `auto` takes a hardware GPU only for problems at or above [`AUTO_GPU_MIN_UNKNOWNS`]
//! unknowns, the crossover measured on the example scenes; a smaller problem runs faster on
//! the CPU, whose solves start at once, where the GPU pays a fixed cost for opening the
//! device, compiling the kernels and the latency of every read-back.

use crate::error::{QdError, Result};
use crate::linalg::CsrMatrix;
use crate::scene::BackendChoice;

use super::gpu::{list_adapters, GpuOptions};
use super::{CpuBackend, GpuBackend};

/// The smallest problem (unknowns of the solved operator) that `auto` runs on a hardware
/// GPU; smaller ones run on the CPU. Measured with LOBPCG (issue 13) on an NVIDIA H200
/// against its host's 16 CPU threads, whole runs (`timings_s.total`, output included), one
/// call, 2026-12-02 (docs/performance.md, "LOBPCG"):
///
/// | scene                                | unknowns | GPU     | CPU     |
/// |--------------------------------------|---------:|--------:|--------:|
/// | 1D quantum well (Schrödinger)        |      600 | 0.43 s  | 0.18 s  |
/// | 1D p-n junction (device)             |      800 | 0.63 s  | 0.32 s  |
/// | 2D dot in a p-n diode (device, SCF)  |   20 000 | 1.35 s  | 1.44 s  |
/// | 2D harmonic dot                      |   25 600 | 0.55 s  | 0.65 s  |
/// | 3D sphere, 32³                       |   32 768 | 0.72 s  | 0.85 s  |
/// | 2D InAs dot                          |   80 000 | 0.53 s  | 0.67 s  |
/// | 3D sphere, 48³ / 64³ / 128³          | 110 592 – 2 097 152 | 0.72 / 1.13 / 4.0 s | 1.17 / 2.17 / 12.4 s |
///
/// The GPU wins from the 25 600-unknown 2D scene up and is even (within run-to-run spread)
/// at 20 000; the crossover is put at 25 000. The device path uses the same threshold on
/// its grid: the 2D dot in a p-n diode, 20 000 cells, stays on the CPU.
pub const AUTO_GPU_MIN_UNKNOWNS: usize = 25_000;

/// What is solved, for the choice.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// An eigenproblem of the Schrödinger path with operator `matrix`; `dense` when it is
    /// small enough for the dense path on the CPU (which `backend: gpu` overrides).
    Eigen { matrix: &'a CsrMatrix, dense: bool },
    /// A device (Poisson / self-consistent) solve on a grid of `unknowns` cells.
    Device { unknowns: usize },
}

impl Mode<'_> {
    fn unknowns(&self) -> usize {
        match self {
            Mode::Eigen { matrix, .. } => matrix.nrows,
            Mode::Device { unknowns } => *unknowns,
        }
    }
}

/// Where the adapter and the GPU options come from.
pub struct GpuRequest<'a> {
    /// The adapter this rank asks for (index or name substring), asked only when a GPU is
    /// about to be opened (listing adapters per rank costs time). None: automatic.
    pub adapter: &'a dyn Fn() -> Option<String>,
    /// Whether an adapter was named (`--adapter`, `QDSIM_ADAPTER`): `auto` then opens it
    /// whatever the problem's size, as before the crossover existed.
    pub adapter_named: bool,
    pub options: &'a GpuOptions,
    /// An invalid GPU setting (field, reason), an input error once a GPU is opened.
    pub invalid: Option<&'a (String, String)>,
    /// Whether this process is one rank of a distributed job: each rank holds only its
    /// block, so the whole matrix need not fit one adapter's bindings.
    pub distributed: bool,
    /// The adapter opened ahead (on a thread started before the scene was painted), taken
    /// by the first [`select`] that opens one.
    pub early: Option<&'a EarlyGpu>,
}

/// A GPU backend being opened on a thread of its own while the host paints and assembles
/// the scene: the adapter's instance, device and kernel compiles overlap that work.
pub struct EarlyGpu(std::sync::Mutex<Early>);

enum Early {
    Opening(std::thread::JoinHandle<Result<Option<GpuBackend>>>),
    Open(Result<Option<GpuBackend>>),
    Taken,
}

impl Early {
    /// Wait for the opening thread (a panic while opening is an internal error).
    fn join(&mut self) {
        if let Early::Opening(_) = self {
            let Early::Opening(h) = std::mem::replace(self, Early::Taken) else { unreachable!() };
            *self = Early::Open(h.join().unwrap_or_else(|_| Err(QdError::Internal("opening the GPU adapter panicked".into()))));
        }
    }
}

impl EarlyGpu {
    /// Start opening `adapter` with `options` (as [`select`] would for `gpu`).
    pub fn start(adapter: Option<String>, options: GpuOptions) -> EarlyGpu {
        let h = std::thread::Builder::new().name("qdsim-gpu-open".into()).spawn(move || GpuBackend::with_options(adapter.as_deref(), true, options));
        EarlyGpu(std::sync::Mutex::new(h.map(Early::Opening).unwrap_or(Early::Taken)))
    }
    /// The backend opened ahead, once (None after the first call, or if the thread could not
    /// be started).
    fn take(&self) -> Option<Result<Option<GpuBackend>>> {
        let mut e = self.0.lock().unwrap_or_else(|e| e.into_inner());
        e.join();
        match std::mem::replace(&mut *e, Early::Taken) {
            Early::Open(r) => Some(r),
            _ => None,
        }
    }
    /// `f` of the backend opened ahead, before [`select`] takes it (a step of the solve that
    /// runs first, as the strain solve does), waiting for the opening if need be. None when
    /// it was taken, or opened no adapter; an error opening it is left for [`select`] to
    /// report.
    pub fn with<R>(&self, f: impl FnOnce(&GpuBackend) -> R) -> Option<R> {
        let mut e = self.0.lock().unwrap_or_else(|e| e.into_inner());
        e.join();
        match &*e {
            Early::Open(Ok(Some(g))) => Some(f(g)),
            _ => None,
        }
    }
}

/// The backend chosen.
pub enum Chosen {
    Cpu(CpuBackend),
    Gpu(GpuBackend),
}

/// A choice and the notices that explain it (printed by the caller, once).
pub struct Selection {
    pub backend: Chosen,
    pub notices: Vec<String>,
}

/// Choose the backend of a solve. Errors: `gpu` asked for but no adapter, a matrix that
/// cannot be laid out on the adapter, an invalid GPU option, an adapter that cannot open.
pub fn select(choice: BackendChoice, mode: Mode, gpu: &GpuRequest) -> Result<Selection> {
    let cpu = |notices: Vec<String>| Ok(Selection { backend: Chosen::Cpu(CpuBackend::new()), notices });
    let open = |allow_software: bool| -> Result<Option<GpuBackend>> {
        if let Some((field, reason)) = gpu.invalid {
            return Err(QdError::input(field.clone(), reason.clone()));
        }
        // (only `gpu` opens ahead, which allows software adapters as this call does then)
        if let Some(opened) = gpu.early.filter(|_| allow_software).and_then(EarlyGpu::take) {
            return opened;
        }
        GpuBackend::with_options((gpu.adapter)().as_deref(), allow_software, gpu.options.clone())
    };
    let eigen_dense = matches!(mode, Mode::Eigen { dense: true, .. });
    match choice {
        BackendChoice::Cpu => cpu(Vec::new()),
        // the dense path runs on the CPU; `gpu` insists on the iterative solver instead
        BackendChoice::Auto if eigen_dense => cpu(Vec::new()),
        BackendChoice::Gpu => {
            let Some(g) = open(true)? else {
                return Err(QdError::input(
                    "solve.backend",
                    "\"gpu\" was asked for but no GPU adapter (Vulkan, Metal or DX12) is available; `qdsim-gpu info` lists adapters",
                ));
            };
            if let (Mode::Eigen { matrix: h, .. }, false) = (mode, gpu.distributed) {
                if let Err(why) = g.fits_matrix(h) {
                    return Err(QdError::input(
                        "solve.backend",
                        format!(
                            "the matrix ({} rows, {} nonzeros) cannot be laid out on adapter '{}' (storage bindings of {} elements): {why}; use the cpu backend",
                            h.nrows,
                            h.nnz(),
                            g.adapter().name,
                            g.max_elements()
                        ),
                    ));
                }
            }
            Ok(Selection { backend: Chosen::Gpu(g), notices: Vec::new() })
        }
        BackendChoice::Auto => {
            let n = mode.unknowns();
            if let Some((field, reason)) = gpu.invalid {
                // (as when the options were read on opening: reported even without an adapter)
                return Err(QdError::input(field.clone(), reason.clone()));
            }
            if !gpu.adapter_named {
                // only a hardware adapter counts for auto (a software one is slower than the CPU)
                let hardware = list_adapters().iter().any(|a| a.device_type != "Cpu" && a.immediates);
                if !hardware {
                    return cpu(match mode {
                        Mode::Eigen { .. } => vec!["no hardware GPU adapter found; using the cpu backend".into()],
                        Mode::Device { .. } => Vec::new(),
                    });
                }
                if n < AUTO_GPU_MIN_UNKNOWNS {
                    return cpu(vec![format!(
                        "auto backend: {n} unknowns, below the {AUTO_GPU_MIN_UNKNOWNS} from which the GPU is faster on this program's solves; using the cpu backend (--backend gpu to insist)"
                    )]);
                }
            }
            match open(false)? {
                Some(g) => match mode {
                    Mode::Eigen { matrix: h, .. } if !gpu.distributed && g.fits_matrix(h).is_err() => {
                        cpu(vec![format!("the problem exceeds adapter '{}''s binding limits; using the cpu backend", g.adapter().name)])
                    }
                    _ => Ok(Selection { backend: Chosen::Gpu(g), notices: Vec::new() }),
                },
                None => cpu(match mode {
                    Mode::Eigen { .. } => vec!["no hardware GPU adapter found; using the cpu backend".into()],
                    Mode::Device { .. } => Vec::new(),
                }),
            }
        }
    }
}
