//! The environment variables the program reads, all here (nothing below cli/ reads the
//! environment): they fill the options that travel down to the pipeline, the backends and
//! the MPI set-up. A command-line flag, where there is one, wins over its variable.
//!
//! | variable | option | flag |
//! |---|---|---|
//! | `QDSIM_ADAPTER` | [`RunOptions::adapter`](crate::pipeline::RunOptions) | `--adapter` |
//! | `QDSIM_GPU_PRECISION` (f32, f64) | [`GpuOptions::f64`] | `--gpu-precision` |
//! | `QDSIM_GPU_PLACEMENT` | [`GpuOptions::placement`] | `--placement` |
//! | `QDSIM_GPU_MAX_BINDING_BYTES` | [`GpuOptions::max_binding_bytes`] | |
//! | `QDSIM_GPU_POOL_BYTES` | [`GpuOptions::pool_bytes`] | |
//! | `QDSIM_SPMV_LAYOUT` (csr, stencil) | [`GpuOptions::spmv_layout`] | |
//! | `QDSIM_GPU_MEMORY_HINTS` (usage) | [`GpuOptions::memory_hints`] | |
//! | `QDSIM_GPU_FIRST_FLUSH` | [`GpuOptions::first_flush`] | |
//! | `QDSIM_NO_MPI` | [`crate::parallel::InitOptions::no_mpi`] | |
//! | `HOSTNAME`, `COMPUTERNAME` | [`crate::parallel::InitOptions::hostname`] | |

use crate::backend::gpu::stencil::SpmvLayout;
use crate::backend::gpu::{GpuOptions, MemoryHints, Placement};
use crate::error::{QdError, Result};

/// A variable's value, None when unset or blank.
fn var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The adapter asked for: `flag` (`--adapter`), else `QDSIM_ADAPTER`.
pub fn adapter(flag: Option<String>) -> Option<String> {
    flag.or_else(|| var("QDSIM_ADAPTER"))
}

/// The GPU set-up as the front end read it.
pub struct GpuSettings {
    pub options: GpuOptions,
    /// The precision asked for explicitly ("f32" or "f64").
    pub precision: Option<&'static str>,
    /// An invalid placement or byte count (variable, reason): an input error once a GPU
    /// backend is opened (runs on the CPU ignore them, as they always did).
    pub invalid: Option<(String, String)>,
}

/// The GPU arithmetic asked for: `flag` (`--gpu-precision`), else `QDSIM_GPU_PRECISION`:
/// Some("f32") or Some("f64"), None when unset or empty; any other value is an input
/// error naming the variable (it is not ignored).
pub fn precision(flag: Option<&str>) -> Result<Option<&'static str>> {
    let raw = match flag {
        Some(f) => f.to_string(),
        None => match std::env::var("QDSIM_GPU_PRECISION") {
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(QdError::input("QDSIM_GPU_PRECISION", format!("{v:?} is not a precision; use f32 or f64")))
            }
            Ok(v) => v,
        },
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "f32" => Ok(Some("f32")),
        "f64" => Ok(Some("f64")),
        _ => Err(QdError::input("QDSIM_GPU_PRECISION", format!("'{}' is not a precision; use f32 or f64", raw.trim()))),
    }
}

/// The GPU options from the flags and the environment. An invalid precision is an error
/// now (every run checks it); an invalid placement or byte count is kept in
/// [`GpuSettings::invalid`].
pub fn gpu_settings(precision_flag: Option<&str>, placement_flag: Option<&str>) -> Result<GpuSettings> {
    let precision = precision(precision_flag)?;
    let mut options = GpuOptions { f64: precision == Some("f64"), ..Default::default() };
    options.adapter = var("QDSIM_ADAPTER");
    options.spmv_layout = var("QDSIM_SPMV_LAYOUT").and_then(|v| SpmvLayout::parse(&v));
    if var("QDSIM_GPU_MEMORY_HINTS").as_deref().map(str::trim) == Some("usage") {
        options.memory_hints = MemoryHints::MemoryUsage;
    }
    let mut invalid = None;
    if let Some(p) = placement_flag.map(str::to_string).or_else(|| var("QDSIM_GPU_PLACEMENT")) {
        match Placement::parse(&p) {
            Some(pl) => options.placement = pl,
            None => {
                invalid = Some(("QDSIM_GPU_PLACEMENT".to_string(), format!("'{p}' is not a placement; use cpu-only, gpu-only, unified or adaptive")))
            }
        }
    }
    let bytes = |k: &str| -> std::result::Result<Option<u64>, (String, String)> {
        match var(k) {
            None => Ok(None),
            Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| (k.to_string(), format!("'{v}' is not a byte count"))),
        }
    };
    match bytes("QDSIM_GPU_MAX_BINDING_BYTES") {
        Ok(b) => options.max_binding_bytes = b,
        Err(e) => invalid = invalid.or(Some(e)),
    }
    match bytes("QDSIM_GPU_POOL_BYTES") {
        Ok(Some(b)) => options.pool_bytes = b,
        Ok(None) => {}
        Err(e) => invalid = invalid.or(Some(e)),
    }
    if let Some(v) = var("QDSIM_GPU_FIRST_FLUSH") {
        match crate::backend::gpu::options::parse_first_flush(&v) {
            Ok(n) => options.first_flush = n,
            Err(r) => invalid = invalid.or(Some(("QDSIM_GPU_FIRST_FLUSH".to_string(), r))),
        }
    }
    Ok(GpuSettings { options, precision, invalid })
}

/// [`gpu_settings`] where a GPU is opened at once (bench, scaling): every invalid value is
/// an error now.
pub fn gpu_options(precision_flag: Option<&str>, placement_flag: Option<&str>) -> Result<GpuOptions> {
    let s = gpu_settings(precision_flag, placement_flag)?;
    match s.invalid {
        Some((field, reason)) => Err(QdError::input(field, reason)),
        None => Ok(s.options),
    }
}

/// The MPI set-up: `QDSIM_NO_MPI` (any value: do not initialise MPI) and the host name
/// the kernel does not give (`HOSTNAME`, `COMPUTERNAME`).
pub fn parallel_init() -> crate::parallel::InitOptions {
    crate::parallel::InitOptions {
        no_mpi: std::env::var_os("QDSIM_NO_MPI").is_some(),
        hostname: std::env::var("HOSTNAME").ok().or_else(|| std::env::var("COMPUTERNAME").ok()),
    }
}

/// Every GPU option from the environment alone ([`GpuOptions::from_vars`] on the process's
/// variables), for front ends without flags: the integration tests open their adapter with
/// it, so `QDSIM_GPU_PRECISION=f64 cargo test` runs the GPU tests in f64.
pub fn gpu_options_from_env() -> Result<GpuOptions> {
    GpuOptions::from_vars(|k| std::env::var_os(k))
}
