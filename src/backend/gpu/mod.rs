//! The GPU backend: the [`Backend`] trait on wgpu compute shaders (shaders/*.wgsl,
//! embedded in the binary).
//!
//! Vectors and matrix values are f32 on the device (every adapter has f32; Metal has no
//! f64). Reductions (shaders/multi.wgsl) are deterministic two-pass workgroup trees with
//! Kahan-compensated per-thread sums. Commands are recorded into one pending encoder and submitted only when a
//! result must come back to the host (a dot product, a download) or after
//! [`FLUSH_EVERY`] dispatches, so a Chebyshev filter step or a block of axpys costs no host
//! round trip. Dot products of a whole block (`block_dot`) are batched into one submission
//! and one read-back.

pub mod context;
pub mod memory;
mod scalars;
pub mod stencil;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::borrow::{Borrow, BorrowMut};

use crate::linalg::backend::{refs, Backend, HaloAccess};
use crate::linalg::CsrMatrix;
pub use context::{list_adapters, AdapterSummary, GpuContext};
pub use memory::{Access, DeviceView, GpuStats, Home, ManagedArray, MemoryManager, Placement, Residency};

/// WGSL sources, one file per kernel family.
pub const SHADER_VECTOR: &str = include_str!("../../../shaders/vector.wgsl");
pub const SHADER_SPMV: &str = include_str!("../../../shaders/spmv.wgsl");
pub const SHADER_MULTI: &str = include_str!("../../../shaders/multi.wgsl");
pub const SHADER_CG: &str = include_str!("../../../shaders/cg.wgsl");
pub const SHADER_STENCIL: &str = include_str!("../../../shaders/stencil.wgsl");
/// Every shader with its file name (for validation).
pub const SHADERS: [(&str, &str); 5] =
    [("vector.wgsl", SHADER_VECTOR), ("spmv.wgsl", SHADER_SPMV), ("multi.wgsl", SHADER_MULTI), ("cg.wgsl", SHADER_CG), ("stencil.wgsl", SHADER_STENCIL)];
/// Basis vectors one batched kernel reads (shaders/multi.wgsl).
const MULTI: usize = 8;

/// The WGSL source in the working precision: the files are written for f32; f64 kernels
/// are the same text with every `f32` made `f64` (literals are abstract and follow).
pub fn shader_source(src: &str, f64_mode: bool) -> String {
    if f64_mode {
        src.replace("f32", "f64")
    } else {
        src.to_string()
    }
}

const WG: u32 = 256;
/// Workgroups of the first reduction pass (partials per dot product).
const MAX_PARTIALS: u32 = 1024;
/// Submit the pending commands after this many dispatches even without a read-back.
pub const FLUSH_EVERY: usize = 256;

/// A vector on the device (f32 or f64 elements): one managed array.
pub struct GpuVector(ManagedArray);

impl GpuVector {
    /// The managed array behind the vector (placement, residency, host access).
    pub fn array(&self) -> &ManagedArray {
        &self.0
    }
}

/// One block of rows of a [`GpuCsr`]: its own row pointers (from 0), columns relative to
/// the start of its window of x, and values, each within one storage binding.
struct CsrBlock {
    row0: usize,
    nrows: usize,
    /// The window of x the block reads: columns w0 .. w0 + wlen (w0 a multiple of ROW_STEP).
    w0: usize,
    wlen: usize,
    row_ptr: ManagedArray,
    col: ManagedArray,
    val: ManagedArray,
}

/// A CSR matrix on the device: u32 row pointers and columns, f32/f64 values, in blocks of
/// rows (one block unless the matrix exceeds a storage binding).
///
/// Grid operators whose vectors fit one chunk are held in the stencil layout instead
/// ([`stencil::GpuStencil`]; `blocks` is then empty).
pub struct GpuCsr {
    blocks: Vec<CsrBlock>,
    nrows: usize,
    stencil: Option<stencil::GpuStencil>,
}

impl GpuCsr {
    pub fn layout(&self) -> stencil::SpmvLayout {
        if self.stencil.is_some() {
            stencil::SpmvLayout::Stencil
        } else {
            stencil::SpmvLayout::Csr
        }
    }
}

/// Rows `row0 .. row1`, nonzeros `k0 .. k1` and the x window of one block of a matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowBlock {
    pub rows: std::ops::Range<usize>,
    pub w0: usize,
    pub wlen: usize,
}

/// Rows per step of a row block, and the alignment of x windows, in elements: 64 elements
/// are 256 bytes in f32, the largest storage-binding offset alignment WebGPU allows.
pub const ROW_STEP: usize = 64;

/// Split a CSR matrix into row blocks for the device: each block lies within one vector
/// chunk of `chunk` rows, its nonzeros fit `max_nnz` elements and its row pointers
/// `max_idx`, and the columns it reads (and its diagonal, for `spmv_axpby`) lie in a window
/// of at most `chunk` columns starting at a multiple of [`ROW_STEP`]. Blocks grow by
/// [`ROW_STEP`] rows. One block (window = all columns) when the whole matrix fits. Err: one
/// step alone breaks a limit (a matrix too wide for its band, or rows too dense).
pub fn plan_row_blocks(a: &CsrMatrix, chunk: usize, max_nnz: usize, max_idx: usize) -> Result<Vec<RowBlock>, String> {
    let (n, nnz) = (a.nrows, a.row_ptr.last().copied().unwrap_or(0));
    if n <= chunk && a.ncols <= chunk && nnz <= max_nnz && n < max_idx {
        return Ok(vec![RowBlock { rows: 0..n, w0: 0, wlen: a.ncols.max(1) }]);
    }
    let last_col = a.ncols.max(1) - 1;
    let mut blocks = Vec::new();
    let mut r0 = 0;
    while r0 < n {
        let chunk_end = ((r0 / chunk + 1) * chunk).min(n);
        let (mut r, mut lo, mut hi) = (r0, r0.min(last_col), r0.min(last_col));
        let mut accepted = None;
        while r < chunk_end {
            let s = (r + ROW_STEP).min(chunk_end);
            let (mut l, mut h) = (lo.min(r.min(last_col)), hi.max((s - 1).min(last_col)));
            for &c in &a.col[a.row_ptr[r]..a.row_ptr[s]] {
                l = l.min(c as usize);
                h = h.max(c as usize);
            }
            let w0 = l / ROW_STEP * ROW_STEP;
            let ok = a.row_ptr[s] - a.row_ptr[r0] <= max_nnz && s - r0 < max_idx && h + 1 - w0 <= chunk;
            if !ok {
                if r == r0 {
                    return Err(format!(
                        "rows {r0}..{s} read columns {l}..={h} ({} nonzeros): more than one storage binding holds ({chunk} vector elements)",
                        a.row_ptr[s] - a.row_ptr[r0]
                    ));
                }
                break;
            }
            r = s;
            lo = l;
            hi = h;
            accepted = Some(RowBlock { rows: r0..r, w0, wlen: h + 1 - w0 });
        }
        match accepted {
            Some(b) => blocks.push(b),
            None => return Err(format!("row block at row {r0} is empty")),
        }
        r0 = r;
    }
    Ok(blocks)
}

/// Immediates of the vector and spmv kernels: `n` and three scalars, laid out as WGSL lays
/// out `struct Imm { n: u32, alpha: F, beta: F, gamma: F }` for F = f32 or f64.
fn imm_scalars(f64_mode: bool, n: u32, a: f64, b: f64, c: f64) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    if f64_mode {
        v.extend_from_slice(&[0u8; 4]);
        for x in [a, b, c] {
            v.extend_from_slice(&x.to_le_bytes());
        }
    } else {
        for x in [a, b, c] {
            v.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    v
}

/// Immediates of the spmv kernels: `struct Imm { n: u32, xoff: u32, alpha: F, beta: F,
/// gamma: F }` (`xoff`: the row's offset in the bound window of x).
fn imm_spmv(f64_mode: bool, n: u32, xoff: u32, a: f64, b: f64, c: f64) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    v.extend_from_slice(&xoff.to_le_bytes());
    for x in [a, b, c] {
        if f64_mode {
            v.extend_from_slice(&x.to_le_bytes());
        } else {
            v.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    v
}

/// Immediates of the batched kernels: `n, k, slot, npartials` then eight coefficients as two
/// vec4<F> (16-byte aligned for f32, 32-byte for f64).
fn imm_multi(f64_mode: bool, head: [u32; 4], c: &[f64; 8]) -> Vec<u8> {
    let mut v: Vec<u8> = head.iter().flat_map(|x| x.to_le_bytes()).collect();
    if f64_mode {
        v.extend_from_slice(&[0u8; 16]);
        for x in c {
            v.extend_from_slice(&x.to_le_bytes());
        }
    } else {
        for x in c {
            v.extend_from_slice(&(*x as f32).to_le_bytes());
        }
    }
    v
}

struct Pipelines {
    fill: wgpu::ComputePipeline,
    copy: wgpu::ComputePipeline,
    copy4: wgpu::ComputePipeline,
    axpy: wgpu::ComputePipeline,
    xpby: wgpu::ComputePipeline,
    scale: wgpu::ComputePipeline,
    pointwise_mul: wgpu::ComputePipeline,
    spmv: wgpu::ComputePipeline,
    spmv_axpby: wgpu::ComputePipeline,
    dot8_partial: wgpu::ComputePipeline,
    dot8_final: wgpu::ComputePipeline,
    axpy8: wgpu::ComputePipeline,
    multi_layout: wgpu::BindGroupLayout,
    vec_layout: wgpu::BindGroupLayout,
    spmv_layout: wgpu::BindGroupLayout,
}

/// How the backend is set up: precision, placement of its arrays, chunk limit.
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// f64 kernels and storage (adapters with SHADER_F64) instead of f32.
    pub f64: bool,
    /// Placement of the vectors and matrices the backend allocates.
    pub placement: Placement,
    /// A chunk limit below the adapter's storage-binding size, bytes (tests of chunking).
    pub max_binding_bytes: Option<u64>,
    /// Bound of the device-buffer pool, bytes.
    pub pool_bytes: u64,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions { f64: false, placement: Placement::GpuOnly, max_binding_bytes: None, pool_bytes: memory::DEFAULT_POOL_BYTES }
    }
}

/// The GPU arithmetic asked for by `QDSIM_GPU_PRECISION` (which `--gpu-precision` sets):
/// Some("f32") or Some("f64"), None when unset or empty; any other value is an input
/// error naming the variable (it is not ignored).
pub fn precision_from_env() -> crate::error::Result<Option<&'static str>> {
    match std::env::var("QDSIM_GPU_PRECISION") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(crate::error::QdError::input("QDSIM_GPU_PRECISION", format!("{v:?} is not a precision; use f32 or f64"))),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "f32" => Ok(Some("f32")),
            "f64" => Ok(Some("f64")),
            _ => Err(crate::error::QdError::input("QDSIM_GPU_PRECISION", format!("'{}' is not a precision; use f32 or f64", v.trim()))),
        },
    }
}

impl GpuOptions {
    /// From the environment: QDSIM_GPU_PRECISION (f32|f64), QDSIM_GPU_PLACEMENT
    /// (cpu-only|gpu-only|unified|adaptive), QDSIM_GPU_MAX_BINDING_BYTES, QDSIM_GPU_POOL_BYTES.
    pub fn from_env() -> crate::error::Result<GpuOptions> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut o = GpuOptions { f64: precision_from_env()? == Some("f64"), ..Default::default() };
        if let Some(p) = var("QDSIM_GPU_PLACEMENT") {
            o.placement = Placement::parse(&p).ok_or_else(|| {
                crate::error::QdError::input("QDSIM_GPU_PLACEMENT", format!("'{p}' is not a placement; use cpu-only, gpu-only, unified or adaptive"))
            })?;
        }
        let bytes = |k: &str| -> crate::error::Result<Option<u64>> {
            match var(k) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| crate::error::QdError::input(k, format!("'{v}' is not a byte count"))),
            }
        };
        o.max_binding_bytes = bytes("QDSIM_GPU_MAX_BINDING_BYTES")?;
        if let Some(b) = bytes("QDSIM_GPU_POOL_BYTES")? {
            o.pool_bytes = b;
        }
        Ok(o)
    }
}

/// The wgpu backend.
pub struct GpuBackend {
    ctx: GpuContext,
    pipes: Pipelines,
    /// Buffers, transfers, the pending command stream and the statistics.
    mem: Arc<MemoryManager>,
    placement: Placement,
    /// 4-byte buffers bound where a kernel ignores an operand (read-only and read-write
    /// slots must not share one).
    dummy: wgpu::Buffer,
    dummy_rw: wgpu::Buffer,
    /// f64 kernels and storage (adapters with SHADER_F64) instead of f32.
    f64_mode: bool,
    /// Bytes per vector element: 4 or 8.
    elem: u64,
    /// The CG kernels (shaders/cg.wgsl), built on first use.
    cg_pipes: std::sync::OnceLock<scalars::CgPipelines>,
    /// The stencil-layout kernels (shaders/stencil.wgsl), built on first use.
    stencil_pipes: std::sync::OnceLock<stencil::StencilPipelines>,
}

/// Compile `src` in the working precision and build one compute pipeline per entry point
/// `names`, all with the bind-group layout `bgl` and `immediate_size` bytes of immediates.
fn compute_pipelines(dev: &wgpu::Device, src: &str, f64_mode: bool, bgl: &wgpu::BindGroupLayout, immediate_size: u32, names: &[&str]) -> Vec<wgpu::ComputePipeline> {
    let code = shader_source(src, f64_mode);
    let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: names.first().copied(), source: wgpu::ShaderSource::Wgsl(code.into()) });
    let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: names.first().copied(), bind_group_layouts: &[Some(bgl)], immediate_size });
    names
        .iter()
        .map(|name| {
            dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
        })
        .collect()
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { read_only }, has_dynamic_offset: false, min_binding_size: None },
        count: None,
    }
}

fn grid(groups: u32, max: u32) -> (u32, u32) {
    let groups = groups.max(1);
    if groups <= max {
        (groups, 1)
    } else {
        let y = groups.div_ceil(max);
        (groups.div_ceil(y), y)
    }
}

impl GpuBackend {
    /// Open an adapter (see [`context::open`]) and build the pipelines, in f32 unless
    /// `QDSIM_GPU_PRECISION=f64`. Ok(None): no adapter.
    pub fn new(choice: Option<&str>, allow_software: bool) -> crate::error::Result<Option<GpuBackend>> {
        Self::with_options(choice, allow_software, GpuOptions::from_env()?)
    }

    /// As [`GpuBackend::new`], with the precision given: `f64` needs an adapter with
    /// SHADER_F64 (an input error otherwise; Metal has none).
    pub fn with_precision(choice: Option<&str>, allow_software: bool, f64_mode: bool) -> crate::error::Result<Option<GpuBackend>> {
        Self::with_options(choice, allow_software, GpuOptions { f64: f64_mode, ..GpuOptions::from_env()? })
    }

    /// As [`GpuBackend::new`], with every option given.
    pub fn with_options(choice: Option<&str>, allow_software: bool, opts: GpuOptions) -> crate::error::Result<Option<GpuBackend>> {
        let f64_mode = opts.f64;
        let Some(ctx) = context::open(choice, allow_software)? else { return Ok(None) };
        if f64_mode && !ctx.device.features().contains(wgpu::Features::SHADER_F64) {
            return Err(crate::error::QdError::input(
                "QDSIM_GPU_PRECISION",
                format!("f64 was asked for but adapter '{}' has no 64-bit float shaders; use f32", ctx.adapter.name),
            ));
        }
        Ok(Some(Self::from_context(ctx, &opts)))
    }

    fn from_context(ctx: GpuContext, opts: &GpuOptions) -> GpuBackend {
        let f64_mode = opts.f64;
        let dev = &ctx.device;
        let layout = |entries: &[wgpu::BindGroupLayoutEntry]| dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries });
        let vec_layout = layout(&[storage_entry(0, true), storage_entry(1, false)]);
        let spmv_layout = layout(&[storage_entry(0, true), storage_entry(1, true), storage_entry(2, true), storage_entry(3, true), storage_entry(4, false)]);
        let mut multi_entries: Vec<wgpu::BindGroupLayoutEntry> = (0..9).map(|b| storage_entry(b, true)).collect();
        multi_entries.push(storage_entry(9, false));
        multi_entries.push(storage_entry(10, false));
        let multi_layout = layout(&multi_entries);
        let pipeline = |src: &str, name: &str, bgl: &wgpu::BindGroupLayout| {
            let imm = match (std::ptr::eq(src, SHADER_MULTI), std::ptr::eq(src, SHADER_SPMV), f64_mode) {
                (true, _, false) => 48,
                (true, _, true) => 96,
                (false, true, false) => 20,
                (false, false, false) => 16,
                (false, _, true) => 32,
            };
            compute_pipelines(dev, src, f64_mode, bgl, imm, &[name]).remove(0)
        };
        let pipes = Pipelines {
            fill: pipeline(SHADER_VECTOR, "fill", &vec_layout),
            copy: pipeline(SHADER_VECTOR, "copy", &vec_layout),
            copy4: pipeline(SHADER_VECTOR, "copy4", &vec_layout),
            axpy: pipeline(SHADER_VECTOR, "axpy", &vec_layout),
            xpby: pipeline(SHADER_VECTOR, "xpby", &vec_layout),
            scale: pipeline(SHADER_VECTOR, "scale", &vec_layout),
            pointwise_mul: pipeline(SHADER_VECTOR, "pointwise_mul", &vec_layout),
            spmv: pipeline(SHADER_SPMV, "spmv", &spmv_layout),
            spmv_axpby: pipeline(SHADER_SPMV, "spmv_axpby", &spmv_layout),
            dot8_partial: pipeline(SHADER_MULTI, "dot8_partial", &multi_layout),
            dot8_final: pipeline(SHADER_MULTI, "dot8_final", &multi_layout),
            axpy8: pipeline(SHADER_MULTI, "axpy8", &multi_layout),
            multi_layout,
            vec_layout,
            spmv_layout,
        };
        let dummy = dev.create_buffer(&wgpu::BufferDescriptor { label: Some("dummy"), size: 8, usage: wgpu::BufferUsages::STORAGE, mapped_at_creation: false });
        let dummy_rw = dev.create_buffer(&wgpu::BufferDescriptor { label: Some("dummy_rw"), size: 8, usage: wgpu::BufferUsages::STORAGE, mapped_at_creation: false });
        let mem = MemoryManager::new(ctx.device.clone(), ctx.queue.clone(), &ctx.limits, opts.max_binding_bytes, opts.pool_bytes);
        GpuBackend {
            ctx,
            pipes,
            mem,
            placement: opts.placement,
            dummy,
            dummy_rw,
            f64_mode,
            elem: if f64_mode { 8 } else { 4 },
            cg_pipes: std::sync::OnceLock::new(),
            stencil_pipes: std::sync::OnceLock::new(),
        }
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.adapter
    }
    pub fn stats(&self) -> &GpuStats {
        &self.mem.stats
    }
    /// The buffer manager.
    pub fn memory(&self) -> &Arc<MemoryManager> {
        &self.mem
    }
    /// The placement of the arrays this backend allocates.
    pub fn placement(&self) -> Placement {
        self.placement
    }
    /// Vector elements per chunk (one storage binding); longer vectors are chunked.
    pub fn max_elements(&self) -> usize {
        self.mem.chunk_elems(self.elem as usize)
    }
    /// The row blocks `a` is uploaded in, or why it cannot be: indices beyond u32, or a
    /// block of [`ROW_STEP`] rows whose columns span more than one binding.
    pub fn plan_matrix(&self, a: &CsrMatrix) -> Result<Vec<RowBlock>, String> {
        if a.nnz() >= u32::MAX as usize || a.nrows >= u32::MAX as usize || a.ncols >= u32::MAX as usize {
            return Err(format!("{} rows and {} nonzeros exceed 32-bit indices", a.nrows, a.nnz()));
        }
        let c = self.max_elements();
        let cu = self.mem.chunk_elems(4);
        plan_row_blocks(a, c, c, cu)
    }
    /// Ok when `a` can be uploaded (see [`GpuBackend::plan_matrix`]).
    pub fn fits_matrix(&self, a: &CsrMatrix) -> Result<(), String> {
        self.plan_matrix(a).map(|_| ())
    }
    /// A zero vector of `n` elements with the given placement.
    pub fn alloc_placed(&self, n: usize, placement: Placement) -> GpuVector {
        GpuVector(ManagedArray::zeros(&self.mem, n, self.elem as usize, placement))
    }
    /// A vector holding `x`, with the given placement.
    pub fn from_host_placed(&self, x: &[f64], placement: Placement) -> GpuVector {
        GpuVector(ManagedArray::from_bytes(&self.mem, &self.to_bytes(x), self.elem as usize, placement))
    }
    /// Device-format bytes as f64 values.
    fn values_of(&self, bytes: &[u8]) -> Vec<f64> {
        if self.f64_mode {
            bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
        } else {
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64).collect()
        }
    }

    /// Record one compute dispatch into the pending encoder.
    fn dispatch(&self, pipeline: &wgpu::ComputePipeline, bind: &wgpu::BindGroup, imm: &[u8], groups: (u32, u32)) {
        let mut p = self.mem.lock_pending();
        if p.pass.is_none() {
            let enc = p.encoder.get_or_insert_with(|| self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
            let pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None }).forget_lifetime();
            p.pass = Some(pass);
        }
        if let Some(pass) = p.pass.as_mut() {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind, &[]);
            pass.set_immediates(0, imm);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
        p.dispatches += 1;
        self.mem.stats.dispatches.fetch_add(1, Ordering::Relaxed);
        if p.dispatches >= FLUSH_EVERY {
            self.mem.submit_locked(&mut p);
        }
    }

    /// Device time of the work `f` records, measured with GPU timestamps around one compute
    /// pass holding all of it (None if the adapter has no timestamp queries, or if `f`
    /// recorded more than [`FLUSH_EVERY`] dispatches). For benchmarks.
    pub fn time_device(&self, f: &mut dyn FnMut()) -> Option<f64> {
        if !self.ctx.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            f();
            return None;
        }
        self.flush();
        let qs = self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor { label: None, ty: wgpu::QueryType::Timestamp, count: 2 });
        {
            let mut p = self.mem.lock_pending();
            let enc = p.encoder.get_or_insert_with(|| self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
            let pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timed"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites { query_set: &qs, beginning_of_pass_write_index: Some(0), end_of_pass_write_index: Some(1) }),
                })
                .forget_lifetime();
            p.pass = Some(pass);
            p.dispatches = 0;
        }
        f();
        let qbuf = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        {
            let mut p = self.mem.lock_pending();
            if p.pass.is_none() || p.encoder.is_none() {
                return None; // flushed in between: the pass no longer holds all the work
            }
            p.pass = None;
            if let Some(enc) = p.encoder.as_mut() {
                enc.resolve_query_set(&qs, 0..2, &qbuf, 0);
            }
        }
        let bytes = self.mem.read_buffer(&qbuf, 16);
        let t: &[u64] = bytemuck::cast_slice(&bytes);
        Some(t[1].saturating_sub(t[0]) as f64 * self.ctx.queue.get_timestamp_period() as f64 * 1e-9)
    }

    /// y ← x four elements per thread, on the first ⌊n/4⌋·4 elements: a bandwidth probe
    /// for the benchmark (compare with `copy`).
    pub fn copy_vec4(&self, x: &GpuVector, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.vec_op(&self.pipes.copy4, Some(&xv), &yv, 4, 0.0, 0.0);
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) {
        self.mem.flush();
    }

    /// Host values as device bytes in the working precision.
    fn to_bytes(&self, x: &[f64]) -> Vec<u8> {
        if self.f64_mode {
            bytemuck::cast_slice(x).to_vec()
        } else {
            let f: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            bytemuck::cast_slice(&f).to_vec()
        }
    }

    /// Element ranges of an array as (chunk, byte offset, byte length) pieces, in order.
    fn chunk_parts(&self, view: &DeviceView, ranges: &[(usize, usize)]) -> Vec<(usize, u64, u64)> {
        let ce = view.chunk_elems().max(1);
        let mut out = Vec::new();
        for &(s, l) in ranges {
            let (mut i, end) = (s, s + l);
            while i < end {
                let k = i / ce;
                let stop = end.min((k + 1) * ce);
                out.push((k, (i - k * ce) as u64 * self.elem, (stop - i) as u64 * self.elem));
                i = stop;
            }
        }
        out
    }

    /// Read `n` working-precision values of `buf` back as f64 (a full synchronisation).
    fn read_values(&self, buf: &wgpu::Buffer, n: usize) -> Vec<f64> {
        self.values_of(&self.mem.read_buffer(buf, n as u64 * self.elem))
    }

    fn groups(&self, n: usize) -> (u32, u32) {
        grid((n as u64).div_ceil(WG as u64) as u32, self.ctx.limits.max_compute_workgroups_per_dimension)
    }

    /// An element-wise kernel on y (and x, of the same length): one dispatch per chunk.
    /// `unit`: elements per thread (4 for the vec4 kernel, which covers ⌊n/4⌋·4 of each chunk).
    fn vec_op(&self, pipeline: &wgpu::ComputePipeline, x: Option<&DeviceView>, y: &DeviceView, unit: usize, a: f64, b: f64) {
        for k in 0..y.nchunks() {
            let n = y.chunk_len(k) / unit;
            if n == 0 {
                continue;
            }
            let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &self.pipes.vec_layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: x.map_or(&self.dummy, |x| x.chunk(k)).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: y.chunk(k).as_entire_binding() },
                ],
            });
            let imm = imm_scalars(self.f64_mode, n as u32, a, b, 0.0);
            self.dispatch(pipeline, &bind, &imm, self.groups(n));
        }
    }
}

impl Backend for GpuBackend {
    type Vector = GpuVector;
    type Matrix = GpuCsr;
    type Scalars = scalars::GpuScalars;

    fn name(&self) -> String {
        "gpu".into()
    }
    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "gpu",
            "adapter": self.ctx.adapter,
            "precision": if self.f64_mode {
                "f64 storage and arithmetic, Kahan-compensated tree reductions"
            } else {
                "f32 storage and arithmetic, Kahan-compensated tree reductions; final Rayleigh-Ritz in f64 on the host"
            },
            "placement": self.placement.name(),
            "max_chunk_bytes": self.mem.max_chunk_bytes(),
            "transfers": self.mem.stats.to_json(),
        })
    }
    fn precision_bits(&self) -> u32 {
        if self.f64_mode {
            64
        } else {
            32
        }
    }
    fn upload_matrix(&self, a: &CsrMatrix) -> GpuCsr {
        self.upload_matrix_layout(a, stencil::SpmvLayout::from_env())
    }
    fn matrix_rows(&self, a: &GpuCsr) -> usize {
        a.nrows
    }
    fn alloc(&self, n: usize) -> GpuVector {
        self.alloc_placed(n, self.placement)
    }
    fn from_host(&self, x: &[f64]) -> GpuVector {
        self.from_host_placed(x, self.placement)
    }
    fn to_host(&self, x: &GpuVector) -> Vec<f64> {
        x.0.with_host(|b| self.values_of(b))
    }
    fn len(&self, x: &GpuVector) -> usize {
        x.0.len()
    }
    fn copy(&self, src: &GpuVector, dst: &mut GpuVector) {
        let (xv, yv) = (src.0.device_read(), dst.0.device_overwrite());
        self.vec_op(&self.pipes.copy, Some(&xv), &yv, 1, 0.0, 0.0);
    }
    fn fill(&self, x: &mut GpuVector, value: f64) {
        let yv = x.0.device_overwrite();
        self.vec_op(&self.pipes.fill, None, &yv, 1, value, 0.0);
    }
    fn spmv(&self, a: &GpuCsr, x: &GpuVector, y: &mut GpuVector) {
        if let Some(st) = &a.stencil {
            return self.stencil_spmv(st, false, x, 1.0, 0.0, 0.0, y);
        }
        self.spmv_axpby_inner(&self.pipes.spmv, a, x, 1.0, 0.0, 0.0, y);
    }
    fn spmv_axpby(&self, a: &GpuCsr, x: &GpuVector, alpha: f64, beta: f64, gamma: f64, y: &mut GpuVector) {
        if let Some(st) = &a.stencil {
            return self.stencil_spmv(st, true, x, alpha, beta, gamma, y);
        }
        self.spmv_axpby_inner(&self.pipes.spmv_axpby, a, x, alpha, beta, gamma, y);
    }
    fn axpy(&self, alpha: f64, x: &GpuVector, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.vec_op(&self.pipes.axpy, Some(&xv), &yv, 1, alpha, 0.0);
    }
    fn xpby(&self, x: &GpuVector, beta: f64, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.vec_op(&self.pipes.xpby, Some(&xv), &yv, 1, 0.0, beta);
    }
    fn scale(&self, alpha: f64, x: &mut GpuVector) {
        let yv = x.0.device_rw();
        self.vec_op(&self.pipes.scale, None, &yv, 1, alpha, 0.0);
    }
    fn pointwise_mul(&self, d: &GpuVector, x: &GpuVector, z: &mut GpuVector) {
        self.copy(x, z);
        let (dv, zv) = (d.0.device_read(), z.0.device_rw());
        self.vec_op(&self.pipes.pointwise_mul, Some(&dv), &zv, 1, 0.0, 0.0);
    }
    fn dot(&self, x: &GpuVector, y: &GpuVector) -> f64 {
        // the batched kernel with one basis vector: same Kahan tree reduction, one read-back
        self.block_dots8(&[x], &[y])[0]
    }
    fn multi_dot<V: Borrow<GpuVector>>(&self, basis: &[V], x: &GpuVector) -> Vec<f64> {
        self.block_dots8(&refs(basis), &[x])
    }
    fn block_dot<V: Borrow<GpuVector>, X: Borrow<GpuVector>>(&self, basis: &[V], xs: &[X]) -> Vec<f64> {
        self.block_dots8(&refs(basis), &refs(xs))
    }
    fn multi_axpy<V: Borrow<GpuVector>>(&self, basis: &[V], c: &[f64], y: &mut GpuVector) {
        self.axpy8(&refs(basis), c, y);
    }
    fn block_sub<V: Borrow<GpuVector>, Y: BorrowMut<GpuVector>>(&self, basis: &[V], c: &crate::linalg::backend::Coeffs, ys: &mut [Y]) {
        let basis = refs(basis);
        for (j, y) in ys.iter_mut().map(BorrowMut::borrow_mut).enumerate().take(c.cols) {
            let neg: Vec<f64> = c.data[j * c.rows..(j + 1) * c.rows].iter().map(|v| -v).collect();
            self.axpy8(&basis[..c.rows.min(basis.len())], &neg, y);
        }
    }
    fn cheap_readback(&self) -> bool {
        false
    }
    fn alloc_scalars(&self, n: usize) -> scalars::GpuScalars {
        self.alloc_scalars_impl(n)
    }
    fn read_scalars(&self, s: &scalars::GpuScalars) -> Vec<f64> {
        self.read_scalars_impl(s)
    }
    fn multi_dot_to<V: Borrow<GpuVector>>(&self, basis: &[V], x: &GpuVector, s: &mut scalars::GpuScalars, first: usize) {
        self.multi_dot_to_impl(&refs(basis), x, s, first)
    }
    fn axpy_ratio(&self, s: &scalars::GpuScalars, num: usize, den: usize, sign: f64, x: &GpuVector, y: &mut GpuVector) {
        self.axpy_ratio_impl(s, num, den, sign, x, y)
    }
    fn xpby_ratio(&self, x: &GpuVector, s: &scalars::GpuScalars, num: usize, den: usize, y: &mut GpuVector) {
        self.xpby_ratio_impl(x, s, num, den, y)
    }
    fn cg_update(&self, s: &scalars::GpuScalars, num: usize, den: usize, p: &GpuVector, q: &GpuVector, x: &mut GpuVector, r: &mut GpuVector) {
        self.cg_update_impl(s, num, den, p, q, x, r)
    }
}

/// Halo planes are read and added through ranges of the device chunks, in one
/// submission each.
impl HaloAccess for GpuBackend {
    fn read_ranges(&self, x: &GpuVector, ranges: &[(usize, usize)]) -> Vec<f64> {
        self.read_ranges_many(&[(x, ranges)]).pop().unwrap_or_default()
    }
    /// One synchronisation for all of them: the byte ranges of the device chunks they
    /// fall in are copied to staging buffers in one submission.
    fn read_ranges_many(&self, reads: &[(&GpuVector, &[(usize, usize)])]) -> Vec<Vec<f64>> {
        let views: Vec<DeviceView> = reads.iter().map(|(x, _)| x.0.device_read()).collect();
        let mut parts: Vec<(&wgpu::Buffer, u64, u64)> = Vec::new();
        let mut counts = Vec::with_capacity(reads.len());
        for (view, (_, ranges)) in views.iter().zip(reads) {
            counts.push(ranges.iter().map(|r| r.1).sum::<usize>());
            parts.extend(self.chunk_parts(view, ranges).into_iter().map(|(k, off, len)| (view.chunk(k), off, len)));
        }
        let all = if parts.is_empty() { Vec::new() } else { self.values_of(&self.mem.download(&parts)) };
        let mut out = Vec::with_capacity(reads.len());
        let mut at = 0;
        for c in counts {
            out.push(all[at..at + c].to_vec());
            at += c;
        }
        out
    }
    /// The values are uploaded (with zero padding in front of each range, down to the
    /// storage-offset alignment) into one pooled buffer, and the axpy kernel adds each
    /// range to y through a binding of just that part of y: one upload and a dispatch per
    /// range, no synchronisation and no pass over the rest of y.
    fn add_ranges(&self, y: &mut GpuVector, ranges: &[(usize, usize)], values: &[f64]) {
        if ranges.iter().all(|r| r.1 == 0) {
            return;
        }
        let align = (self.ctx.limits.min_storage_buffer_offset_alignment as u64).max(self.elem);
        let view = y.0.device_rw();
        // (chunk, aligned byte offset, elements incl. padding, element offset in the source)
        let mut pieces: Vec<(usize, u64, usize, usize)> = Vec::new();
        let mut src: Vec<f64> = Vec::new();
        let mut at = 0usize;
        for (k, off, len) in self.chunk_parts(&view, ranges) {
            let aligned = off / align * align;
            let pad = ((off - aligned) / self.elem) as usize;
            let n = len as usize / self.elem as usize;
            // keep every piece's source offset aligned too
            let lead = src.len().div_ceil((align / self.elem) as usize) * (align / self.elem) as usize;
            src.resize(lead + pad, 0.0);
            src.extend_from_slice(&values[at..at + n]);
            pieces.push((k, aligned, pad + n, lead));
            at += n;
        }
        let scratch = self.mem.scratch(src.len() as u64 * self.elem);
        self.mem.upload(&scratch, 0, &self.to_bytes(&src));
        for (k, aligned, n, lead) in pieces {
            let bytes = n as u64 * self.elem;
            let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &self.pipes.vec_layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: &scratch, offset: lead as u64 * self.elem, size: std::num::NonZeroU64::new(bytes) }),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: view.chunk(k), offset: aligned, size: std::num::NonZeroU64::new(bytes) }),
                    },
                ],
            });
            let imm = imm_scalars(self.f64_mode, n as u32, 1.0, 0.0, 0.0);
            self.dispatch(&self.pipes.axpy, &bind, &imm, self.groups(n));
        }
    }
    fn flush(&self) {
        self.mem.flush();
    }
}

impl GpuBackend {
    /// Upload `a` in the layout asked for, or (None) in the stencil layout where `a` is a
    /// grid operator whose vectors fit one chunk, and in CSR otherwise.
    pub fn upload_matrix_layout(&self, a: &CsrMatrix, layout: Option<stencil::SpmvLayout>) -> GpuCsr {
        if layout != Some(stencil::SpmvLayout::Csr) && a.nrows <= self.max_elements() {
            if let Some(s) = crate::linalg::stencil::StencilMatrix::detect(a) {
                return GpuCsr { blocks: Vec::new(), nrows: a.nrows, stencil: Some(self.upload_stencil(&s)) };
            }
        }
        let plan = self.plan_matrix(a).unwrap_or_else(|e| panic!("matrix exceeds the adapter's limits (check fits_matrix first): {e}"));
        let vals = self.to_bytes(&a.val);
        let e = self.elem as usize;
        let blocks = plan
            .into_iter()
            .map(|b| {
                let (k0, k1) = (a.row_ptr[b.rows.start], a.row_ptr[b.rows.end]);
                let rp: Vec<u32> = a.row_ptr[b.rows.start..=b.rows.end].iter().map(|&p| (p - k0) as u32).collect();
                let col: Vec<u32> = if b.w0 == 0 { a.col[k0..k1].to_vec() } else { a.col[k0..k1].iter().map(|&c| c - b.w0 as u32).collect() };
                CsrBlock {
                    row0: b.rows.start,
                    nrows: b.rows.len(),
                    w0: b.w0,
                    wlen: b.wlen,
                    row_ptr: ManagedArray::from_bytes(&self.mem, bytemuck::cast_slice(&rp), 4, self.placement),
                    col: ManagedArray::from_bytes(&self.mem, bytemuck::cast_slice(&col), 4, self.placement),
                    val: ManagedArray::from_bytes(&self.mem, &vals[k0 * e..k1 * e], e, self.placement),
                }
            })
            .collect();
        GpuCsr { blocks, nrows: a.nrows, stencil: None }
    }
}

impl GpuBackend {
    /// Bind group of the batched kernels: basis slots (dummy beyond `chunk`), x, work, out.
    fn multi_bind(&self, chunk: &[&wgpu::Buffer], x: Option<&wgpu::Buffer>, work: wgpu::BindingResource<'_>, out: Option<&wgpu::Buffer>) -> wgpu::BindGroup {
        let mut entries: Vec<wgpu::BindGroupEntry> =
            (0..MULTI).map(|j| wgpu::BindGroupEntry { binding: j as u32, resource: chunk.get(j).copied().unwrap_or(&self.dummy).as_entire_binding() }).collect();
        entries.push(wgpu::BindGroupEntry { binding: 8, resource: x.unwrap_or(&self.dummy).as_entire_binding() });
        entries.push(wgpu::BindGroupEntry { binding: 9, resource: work });
        entries.push(wgpu::BindGroupEntry { binding: 10, resource: out.unwrap_or(&self.dummy_rw).as_entire_binding() });
        self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &self.pipes.multi_layout, entries: &entries })
    }

    /// basis_iᵀ x_j for all i, j, column-major (i fastest): one submission and one
    /// read-back for the whole block (see [`GpuBackend::record_dots8`]).
    fn block_dots8(&self, basis: &[&GpuVector], xs: &[&GpuVector]) -> Vec<f64> {
        let (m, b) = (basis.len(), xs.len());
        if m == 0 || b == 0 {
            return Vec::new();
        }
        if xs[0].0.is_empty() {
            return vec![0.0; m * b];
        }
        let out = self.mem.scratch((m * b) as u64 * self.elem);
        self.record_dots8(basis, xs, &out, 0);
        self.read_values(&out, m * b)
    }

    /// Record the dispatches that write basis_iᵀ x_j to `out[slot0 + i + j·m]`, without a
    /// read-back: per x and group of eight basis vectors, one partial dispatch per chunk
    /// (their partials side by side) and one final reduction.
    fn record_dots8(&self, basis: &[&GpuVector], xs: &[&GpuVector], out: &wgpu::Buffer, slot0: usize) {
        let (m, b) = (basis.len(), xs.len());
        if m == 0 || b == 0 || xs[0].0.is_empty() {
            return;
        }
        let n = xs[0].0.len();
        let bv: Vec<DeviceView> = basis.iter().map(|v| v.0.device_read()).collect();
        let xv: Vec<DeviceView> = xs.iter().map(|v| v.0.device_read()).collect();
        let nch = xv[0].nchunks();
        let parts: Vec<u32> = (0..nch).map(|k| ((xv[0].chunk_len(k) as u64).div_ceil(WG as u64) as u32).clamp(1, MAX_PARTIALS)).collect();
        let npart: u32 = parts.iter().sum();
        let groups8 = m.div_ceil(MULTI);
        let stride = (MULTI as u64 * npart as u64 * self.elem).div_ceil(256) * 256;
        let work = self.mem.scratch(stride * (groups8 * b) as u64);
        for (jx, x) in xv.iter().enumerate() {
            for c in 0..groups8 {
                let start = c * MULTI;
                let group = &bv[start..(start + MULTI).min(m)];
                let region = || {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &work,
                        offset: stride * (jx * groups8 + c) as u64,
                        size: std::num::NonZeroU64::new(MULTI as u64 * npart as u64 * self.elem),
                    })
                };
                let mut first = 0u32;
                let mut bind = None;
                for (k, &p) in parts.iter().enumerate() {
                    let chunk: Vec<&wgpu::Buffer> = group.iter().map(|v| v.chunk(k)).collect();
                    let bg = self.multi_bind(&chunk, Some(x.chunk(k)), region(), Some(out));
                    let imm = imm_multi(self.f64_mode, [x.chunk_len(k) as u32, group.len() as u32, first, npart], &[0.0; 8]);
                    self.dispatch(&self.pipes.dot8_partial, &bg, &imm, (p, 1));
                    first += p;
                    bind = Some(bg);
                }
                if let Some(bg) = bind {
                    let imm = imm_multi(self.f64_mode, [n as u32, group.len() as u32, (slot0 + jx * m + start) as u32, npart], &[0.0; 8]);
                    self.dispatch(&self.pipes.dot8_final, &bg, &imm, (group.len() as u32, 1));
                }
            }
        }
    }

    /// y ← y + Σ c_i basis_i, eight basis vectors per dispatch, chunk by chunk.
    fn axpy8(&self, basis: &[&GpuVector], c: &[f64], y: &GpuVector) {
        if y.0.is_empty() || c.iter().take(basis.len()).all(|&v| v == 0.0) {
            return;
        }
        let yv = y.0.device_rw();
        for (ci, group) in c.chunks(MULTI).zip(basis.chunks(MULTI)) {
            if ci.iter().all(|&v| v == 0.0) {
                continue;
            }
            let mut coeff = [0.0f64; 8];
            for (d, &v) in coeff.iter_mut().zip(ci) {
                *d = v;
            }
            let views: Vec<DeviceView> = group.iter().map(|v| v.0.device_read()).collect();
            for k in 0..yv.nchunks() {
                let n = yv.chunk_len(k);
                let chunk: Vec<&wgpu::Buffer> = views.iter().map(|v| v.chunk(k)).collect();
                let bind = self.multi_bind(&chunk, None, yv.chunk(k).as_entire_binding(), None);
                let imm = imm_multi(self.f64_mode, [n as u32, group.len().min(ci.len()) as u32, 0, 0], &coeff);
                self.dispatch(&self.pipes.axpy8, &bind, &imm, self.groups(n));
            }
        }
    }

    /// y ← α A x + β x + γ y, one dispatch per row block of A. A block binds its rows of y
    /// and its window of x: a range of one chunk of x, or, where the window straddles two
    /// chunks, a scratch copy of it assembled on the device.
    #[allow(clippy::too_many_arguments)]
    fn spmv_axpby_inner(&self, pipeline: &wgpu::ComputePipeline, a: &GpuCsr, x: &GpuVector, alpha: f64, beta: f64, gamma: f64, y: &mut GpuVector) {
        if a.nrows == 0 {
            return;
        }
        let e = self.elem;
        let xv = x.0.device_read();
        // γ = 0: the kernels never read y
        let yv = if gamma == 0.0 { y.0.device_overwrite() } else { y.0.device_rw() };
        let c = xv.chunk_elems();
        for b in &a.blocks {
            let (rp, ci, va) = (b.row_ptr.device_read(), b.col.device_read(), b.val.device_read());
            let (kx0, kx1) = (b.w0 / c, (b.w0 + b.wlen - 1) / c);
            let scratch = (kx0 != kx1).then(|| {
                let s = self.mem.scratch(b.wlen as u64 * e);
                let mut p = self.mem.lock_pending();
                let enc = self.mem.encoder_locked(&mut p);
                for k in kx0..=kx1 {
                    let r = xv.chunk_range(k);
                    let (lo, hi) = (r.start.max(b.w0), r.end.min(b.w0 + b.wlen));
                    enc.copy_buffer_to_buffer(xv.chunk(k), (lo - r.start) as u64 * e, &s, (lo - b.w0) as u64 * e, (hi - lo) as u64 * e);
                }
                s
            });
            let xbind = match &scratch {
                Some(s) => wgpu::BufferBinding { buffer: s, offset: 0, size: std::num::NonZeroU64::new(b.wlen as u64 * e) },
                None => wgpu::BufferBinding { buffer: xv.chunk(kx0), offset: (b.w0 - kx0 * c) as u64 * e, size: std::num::NonZeroU64::new(b.wlen as u64 * e) },
            };
            let ky = b.row0 / c;
            let ybind = wgpu::BufferBinding { buffer: yv.chunk(ky), offset: (b.row0 - ky * c) as u64 * e, size: std::num::NonZeroU64::new(b.nrows as u64 * e) };
            let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &self.pipes.spmv_layout,
                entries: &[
                    wgpu::BindGroupEntry { binding: 0, resource: rp.chunks().first().unwrap_or(&self.dummy).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 1, resource: ci.chunks().first().unwrap_or(&self.dummy).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: va.chunks().first().unwrap_or(&self.dummy).as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 3, resource: wgpu::BindingResource::Buffer(xbind) },
                    wgpu::BindGroupEntry { binding: 4, resource: wgpu::BindingResource::Buffer(ybind) },
                ],
            });
            let imm = imm_spmv(self.f64_mode, b.nrows as u32, (b.row0 - b.w0) as u32, alpha, beta, gamma);
            self.dispatch(pipeline, &bind, &imm, self.groups(b.nrows));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_parses_and_validates_with_naga() {
        use wgpu::naga::valid::{Capabilities, ValidationFlags, Validator};
        for (name, src) in SHADERS {
            for f64_mode in [false, true] {
                let src = shader_source(src, f64_mode);
                let src = src.as_str();
                let module = wgpu::naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name} (f64 {f64_mode}): {}", e.emit_to_string(src)));
                let caps = if f64_mode { Capabilities::IMMEDIATES | Capabilities::FLOAT64 } else { Capabilities::IMMEDIATES };
                Validator::new(ValidationFlags::all(), caps)
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{name} (f64 {f64_mode}): {}", e.emit_to_string(src)));
            }
        }
    }

    #[test]
    fn grid_splits_large_dispatches() {
        assert_eq!(grid(10, 65535), (10, 1));
        let (x, y) = grid(70000, 65535);
        assert!(x <= 65535 && x as u64 * y as u64 >= 70000);
        assert_eq!(grid(0, 65535), (1, 1));
    }
}
