//! How the GPU backend is set up: [`GpuOptions`] (adapter, precision, placement, chunk and
//! pool limits, matrix layout, allocator hint), handed down by the caller.
//!
//! Nothing in the GPU backend reads the environment: cli/env.rs does and fills these
//! options. [`GpuOptions::from_vars`] turns variables into options through a lookup
//! function the caller provides (cli::env::gpu_options_from_env hands it the process's).
//!
//! Variables: QDSIM_ADAPTER (an index from `qdsim-gpu info` or a name substring),
//! QDSIM_GPU_PRECISION (f32 | f64), QDSIM_GPU_PLACEMENT (cpu-only | gpu-only | unified |
//! adaptive), QDSIM_GPU_MAX_BINDING_BYTES, QDSIM_GPU_POOL_BYTES, QDSIM_SPMV_LAYOUT
//! (csr | stencil), QDSIM_GPU_MEMORY_HINTS (usage).

use std::ffi::OsString;

use super::memory::{Placement, DEFAULT_POOL_BYTES};
use super::stencil::SpmvLayout;
use crate::error::{QdError, Result};

/// The allocator hint the device is created with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryHints {
    /// Fast allocation (wgpu's default).
    #[default]
    Performance,
    /// Small memory footprint.
    MemoryUsage,
}

/// How the backend is set up.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// The adapter: an index in `qdsim-gpu info`'s list or a name substring (None: the best
    /// hardware adapter). An explicit choice passed to the constructors takes precedence.
    pub adapter: Option<String>,
    /// f64 kernels and storage (adapters with SHADER_F64) instead of f32.
    pub f64: bool,
    /// Placement of the vectors and matrices the backend allocates.
    pub placement: Placement,
    /// A chunk limit below the adapter's storage-binding size, bytes (tests of chunking).
    pub max_binding_bytes: Option<u64>,
    /// Bound of the device-buffer pool, bytes.
    pub pool_bytes: u64,
    /// The layout every matrix is uploaded in (None: stencil for grid operators that fit
    /// one chunk, CSR otherwise).
    pub spmv_layout: Option<SpmvLayout>,
    /// The allocator hint of the device.
    pub memory_hints: MemoryHints,
    /// Profile every kernel with GPU timestamps from the start (`bench --profile-kernels`;
    /// an input error on an adapter without TIMESTAMP_QUERY). See memory/profile.rs.
    pub profile_kernels: bool,
    /// Dispatches recorded after a host synchronisation before the first submission
    /// (`QDSIM_GPU_FIRST_FLUSH`): the device idles from a read-back until the host submits
    /// again, so the first batch after one goes early and each later one doubles, up to
    /// [`super::FLUSH_EVERY`]. `FLUSH_EVERY` or more: no ramp.
    pub first_flush: usize,
}

/// [`GpuOptions::first_flush`] by default.
pub const DEFAULT_FIRST_FLUSH: usize = 32;

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            adapter: None,
            f64: false,
            placement: Placement::GpuOnly,
            max_binding_bytes: None,
            pool_bytes: DEFAULT_POOL_BYTES,
            spmv_layout: None,
            memory_hints: MemoryHints::Performance,
            profile_kernels: false,
            first_flush: DEFAULT_FIRST_FLUSH,
        }
    }
}

/// A [`GpuOptions::first_flush`] value: a dispatch count of at least 1.
pub fn parse_first_flush(v: &str) -> std::result::Result<usize, String> {
    match v.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{}' is not a dispatch count (an integer of at least 1)", v.trim())),
    }
}

/// The precision `QDSIM_GPU_PRECISION` holds: Some("f32") or Some("f64"), None when unset
/// or empty; any other value (or one that is not Unicode) is an input error naming the
/// variable.
pub fn parse_precision(value: Option<OsString>) -> Result<Option<&'static str>> {
    let Some(v) = value else { return Ok(None) };
    let v = v.into_string().map_err(|v| QdError::input("QDSIM_GPU_PRECISION", format!("{v:?} is not a precision; use f32 or f64")))?;
    match v.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "f32" => Ok(Some("f32")),
        "f64" => Ok(Some("f64")),
        _ => Err(QdError::input("QDSIM_GPU_PRECISION", format!("'{}' is not a precision; use f32 or f64", v.trim()))),
    }
}

impl SpmvLayout {
    /// `csr` or `stencil` (surrounding blanks ignored); None for anything else.
    pub fn parse(s: &str) -> Option<SpmvLayout> {
        match s.trim() {
            "csr" => Some(SpmvLayout::Csr),
            "stencil" => Some(SpmvLayout::Stencil),
            _ => None,
        }
    }
}

impl GpuOptions {
    /// The options the variables (module documentation) ask for, `var` looking each one up
    /// (None: unset). Unset, empty or non-Unicode values keep the default, except the
    /// precision, where a non-Unicode value is an error; malformed precisions, placements and
    /// byte counts are input errors naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<GpuOptions> {
        let text = |k: &str| var(k).and_then(|v| v.into_string().ok());
        let set = |k: &str| text(k).filter(|v| !v.trim().is_empty());
        let mut o = GpuOptions { f64: parse_precision(var("QDSIM_GPU_PRECISION"))? == Some("f64"), ..Default::default() };
        if let Some(p) = set("QDSIM_GPU_PLACEMENT") {
            o.placement = Placement::parse(&p)
                .ok_or_else(|| QdError::input("QDSIM_GPU_PLACEMENT", format!("'{p}' is not a placement; use cpu-only, gpu-only, unified or adaptive")))?;
        }
        let bytes = |k: &str| -> Result<Option<u64>> {
            match set(k) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| QdError::input(k, format!("'{v}' is not a byte count"))),
            }
        };
        o.max_binding_bytes = bytes("QDSIM_GPU_MAX_BINDING_BYTES")?;
        if let Some(b) = bytes("QDSIM_GPU_POOL_BYTES")? {
            o.pool_bytes = b;
        }
        o.adapter = set("QDSIM_ADAPTER");
        o.spmv_layout = text("QDSIM_SPMV_LAYOUT").and_then(|v| SpmvLayout::parse(&v));
        if text("QDSIM_GPU_MEMORY_HINTS").as_deref() == Some("usage") {
            o.memory_hints = MemoryHints::MemoryUsage;
        }
        if let Some(v) = set("QDSIM_GPU_FIRST_FLUSH") {
            o.first_flush = parse_first_flush(&v).map_err(|r| QdError::input("QDSIM_GPU_FIRST_FLUSH", r))?;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| pairs.iter().find(|p| p.0 == k).map(|p| OsString::from(&p.1))
    }

    #[test]
    fn variables_map_to_options() {
        let o = GpuOptions::from_vars(vars(&[
            ("QDSIM_GPU_PRECISION", " F64 "),
            ("QDSIM_GPU_PLACEMENT", "unified"),
            ("QDSIM_GPU_POOL_BYTES", "4096"),
            ("QDSIM_ADAPTER", "llvmpipe"),
            ("QDSIM_SPMV_LAYOUT", "csr"),
            ("QDSIM_GPU_MEMORY_HINTS", "usage"),
        ]))
        .unwrap();
        assert!(o.f64);
        assert_eq!((o.placement, o.pool_bytes, o.max_binding_bytes), (Placement::Unified, 4096, None));
        assert_eq!((o.adapter.as_deref(), o.spmv_layout, o.memory_hints), (Some("llvmpipe"), Some(SpmvLayout::Csr), MemoryHints::MemoryUsage));
        let d = GpuOptions::from_vars(vars(&[("QDSIM_ADAPTER", "  "), ("QDSIM_SPMV_LAYOUT", "dense")])).unwrap();
        assert_eq!((d.f64, d.adapter, d.spmv_layout, d.memory_hints), (false, None, None, MemoryHints::Performance));
    }

    #[test]
    fn malformed_values_are_input_errors() {
        for (k, v) in [("QDSIM_GPU_PRECISION", "f16"), ("QDSIM_GPU_PLACEMENT", "somewhere"), ("QDSIM_GPU_POOL_BYTES", "lots"), ("QDSIM_GPU_FIRST_FLUSH", "0"), ("QDSIM_GPU_FIRST_FLUSH", "soon")] {
            let e = GpuOptions::from_vars(vars(&[(k, v)])).unwrap_err().to_string();
            assert!(e.contains(k), "{e}");
        }
        assert_eq!(GpuOptions::from_vars(vars(&[("QDSIM_GPU_FIRST_FLUSH", " 16 ")])).unwrap().first_flush, 16);
        assert_eq!(parse_precision(None).unwrap(), None);
        assert_eq!(parse_precision(Some(" ".into())).unwrap(), None);
    }
}
