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
mod scalars;
pub mod stencil;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::linalg::backend::Backend;
use crate::linalg::CsrMatrix;
pub use context::{list_adapters, AdapterSummary, GpuContext};

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

/// Transfer and allocation counters, reported in results.json.
#[derive(Debug, Default)]
pub struct GpuStats {
    pub bytes_host_to_device: AtomicU64,
    pub bytes_device_to_host: AtomicU64,
    pub allocations: AtomicU64,
    pub bytes_allocated: AtomicU64,
    pub live_bytes: AtomicU64,
    pub peak_bytes: AtomicU64,
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub readbacks: AtomicU64,
    pub staging_created: AtomicU64,
    pub pool_hits: AtomicU64,
}

impl GpuStats {
    fn alloc(&self, bytes: u64) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        self.bytes_allocated.fetch_add(bytes, Ordering::Relaxed);
        let live = self.live_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_bytes.fetch_max(live, Ordering::Relaxed);
    }
    pub fn to_json(&self) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "bytes_host_to_device": g(&self.bytes_host_to_device),
            "bytes_device_to_host": g(&self.bytes_device_to_host),
            "allocations": g(&self.allocations),
            "bytes_allocated": g(&self.bytes_allocated),
            "peak_device_bytes": g(&self.peak_bytes),
            "dispatches": g(&self.dispatches),
            "submissions": g(&self.submissions),
            "readbacks": g(&self.readbacks),
            "staging_buffers_created": g(&self.staging_created),
            "staging_pool_hits": g(&self.pool_hits),
        })
    }
}

/// A device buffer with its length in elements; frees its byte count from the live total
/// when dropped.
pub struct DeviceArray {
    buf: wgpu::Buffer,
    len: usize,
    stats: Arc<GpuStats>,
}

impl Drop for DeviceArray {
    fn drop(&mut self) {
        self.stats.live_bytes.fetch_sub(self.buf.size(), Ordering::Relaxed);
    }
}

/// A vector on the device (f32).
pub struct GpuVector(DeviceArray);

/// A matrix on the device: CSR (u32 row pointers and columns, f32 values), or for grid
/// operators the stencil layout ([`stencil::GpuStencil`]; the CSR arrays are then empty).
pub struct GpuCsr {
    row_ptr: DeviceArray,
    col: DeviceArray,
    val: DeviceArray,
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

/// Commands recorded but not yet submitted: one encoder and, while dispatches keep coming,
/// one open compute pass (wgpu puts the needed barriers between its dispatches), so a
/// sequence of kernels costs one pass, not one pass each.
struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    pass: Option<wgpu::ComputePass<'static>>,
    dispatches: usize,
}

/// The wgpu backend.
pub struct GpuBackend {
    ctx: GpuContext,
    pipes: Pipelines,
    stats: Arc<GpuStats>,
    pending: Mutex<Pending>,
    /// 4-byte buffers bound where a kernel ignores an operand (read-only and read-write
    /// slots must not share one).
    dummy: wgpu::Buffer,
    dummy_rw: wgpu::Buffer,
    /// Mapped-read staging buffers for read-backs, reused by size class.
    staging_pool: Mutex<Vec<wgpu::Buffer>>,
    /// f64 kernels and storage (adapters with SHADER_F64) instead of f32.
    f64_mode: bool,
    /// Bytes per vector element: 4 or 8.
    elem: u64,
    /// The CG kernels (shaders/cg.wgsl), built on first use.
    cg_pipes: std::sync::OnceLock<scalars::CgPipelines>,
    /// The stencil-layout kernels (shaders/stencil.wgsl), built on first use.
    stencil_pipes: std::sync::OnceLock<stencil::StencilPipelines>,
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
        let f64_mode = std::env::var("QDSIM_GPU_PRECISION").is_ok_and(|v| v.trim() == "f64");
        Self::with_precision(choice, allow_software, f64_mode)
    }

    /// As [`GpuBackend::new`], with the precision given: `f64` needs an adapter with
    /// SHADER_F64 (an input error otherwise; Metal has none).
    pub fn with_precision(choice: Option<&str>, allow_software: bool, f64_mode: bool) -> crate::error::Result<Option<GpuBackend>> {
        let Some(ctx) = context::open(choice, allow_software)? else { return Ok(None) };
        if f64_mode && !ctx.device.features().contains(wgpu::Features::SHADER_F64) {
            return Err(crate::error::QdError::input(
                "QDSIM_GPU_PRECISION",
                format!("f64 was asked for but adapter '{}' has no 64-bit float shaders; use f32", ctx.adapter.name),
            ));
        }
        Ok(Some(Self::from_context(ctx, f64_mode)))
    }

    fn from_context(ctx: GpuContext, f64_mode: bool) -> GpuBackend {
        let dev = &ctx.device;
        let layout = |entries: &[wgpu::BindGroupLayoutEntry]| dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: None, entries });
        let vec_layout = layout(&[storage_entry(0, true), storage_entry(1, false)]);
        let spmv_layout = layout(&[storage_entry(0, true), storage_entry(1, true), storage_entry(2, true), storage_entry(3, true), storage_entry(4, false)]);
        let mut multi_entries: Vec<wgpu::BindGroupLayoutEntry> = (0..9).map(|b| storage_entry(b, true)).collect();
        multi_entries.push(storage_entry(9, false));
        multi_entries.push(storage_entry(10, false));
        let multi_layout = layout(&multi_entries);
        let pipeline = |src: &str, name: &str, bgl: &wgpu::BindGroupLayout| {
            let code = shader_source(src, f64_mode);
            let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(name), source: wgpu::ShaderSource::Wgsl(code.into()) });
            let imm = match (std::ptr::eq(src, SHADER_MULTI), f64_mode) {
                (true, false) => 48,
                (true, true) => 96,
                (false, false) => 16,
                (false, true) => 32,
            };
            let pl = dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor { label: Some(name), bind_group_layouts: &[Some(bgl)], immediate_size: imm });
            dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
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
        GpuBackend { ctx, pipes, stats: Arc::new(GpuStats::default()), pending: Mutex::new(Pending { encoder: None, pass: None, dispatches: 0 }), dummy, dummy_rw, staging_pool: Mutex::new(Vec::new()), f64_mode, elem: if f64_mode { 8 } else { 4 }, cg_pipes: std::sync::OnceLock::new(), stencil_pipes: std::sync::OnceLock::new() }
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.adapter
    }
    pub fn stats(&self) -> &GpuStats {
        &self.stats
    }
    /// Largest vector length one storage binding holds.
    pub fn max_elements(&self) -> usize {
        ((self.ctx.limits.max_storage_buffer_binding_size as u64).min(self.ctx.limits.max_buffer_size) / self.elem) as usize
    }
    /// Whether a matrix of `nrows` rows and `nnz` nonzeros (and its vectors) fits the
    /// adapter's binding limits.
    pub fn fits(&self, nrows: usize, nnz: usize) -> bool {
        nnz <= self.max_elements() && nrows + 1 <= self.max_elements() && nnz < u32::MAX as usize
    }

    /// A device array of `n` elements of `elem` bytes.
    fn array(&self, n: usize, elem: u64, label: &str) -> DeviceArray {
        let bytes = n as u64 * elem;
        let size = bytes.max(8).div_ceil(8) * 8;
        let buf = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.stats.alloc(size);
        DeviceArray { buf, len: n, stats: self.stats.clone() }
    }

    /// A device array holding `contents`, elements of `elem` bytes.
    fn array_init(&self, contents: &[u8], elem: usize, label: &str) -> DeviceArray {
        let n = contents.len() / elem;
        let padded;
        let contents = if contents.len() % 8 != 0 || contents.is_empty() {
            let mut v = contents.to_vec();
            v.resize(contents.len().max(8).div_ceil(8) * 8, 0);
            padded = v;
            &padded[..]
        } else {
            contents
        };
        let buf = self.ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        });
        self.stats.alloc(buf.size());
        self.stats.bytes_host_to_device.fetch_add(contents.len() as u64, Ordering::Relaxed);
        DeviceArray { buf, len: n, stats: self.stats.clone() }
    }

    /// Upload `a` in the layout asked for, or (None) in the stencil layout where `a` is a
    /// grid operator and in CSR otherwise. A stencil asked for but not detected gives CSR.
    pub fn upload_matrix_layout(&self, a: &CsrMatrix, layout: Option<stencil::SpmvLayout>) -> GpuCsr {
        if layout != Some(stencil::SpmvLayout::Csr) {
            if let Some(s) = crate::linalg::stencil::StencilMatrix::detect(a) {
                let empty = || self.array(0, 4, "unused");
                return GpuCsr { row_ptr: empty(), col: empty(), val: empty(), nrows: a.nrows, stencil: Some(self.upload_stencil(&s)) };
            }
        }
        let rp: Vec<u32> = a.row_ptr.iter().map(|&p| p as u32).collect();
        GpuCsr {
            row_ptr: self.array_init(bytemuck::cast_slice(&rp), 4, "row_ptr"),
            col: self.array_init(bytemuck::cast_slice(&a.col), 4, "col"),
            val: self.array_init(&self.to_bytes(&a.val), self.elem as usize, "val"),
            nrows: a.nrows,
            stencil: None,
        }
    }

    /// Record one compute dispatch into the pending encoder.
    fn dispatch(&self, pipeline: &wgpu::ComputePipeline, bind: &wgpu::BindGroup, imm: &[u8], groups: (u32, u32)) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
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
        self.stats.dispatches.fetch_add(1, Ordering::Relaxed);
        if p.dispatches >= FLUSH_EVERY {
            self.submit_locked(&mut p);
        }
    }

    fn submit_locked(&self, p: &mut Pending) -> Option<wgpu::SubmissionIndex> {
        p.pass = None; // ends the open pass
        let enc = p.encoder.take()?;
        p.dispatches = 0;
        self.stats.submissions.fetch_add(1, Ordering::Relaxed);
        Some(self.ctx.queue.submit([enc.finish()]))
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
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
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
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.pass.is_none() || p.encoder.is_none() {
                return None; // flushed in between: the pass no longer holds all the work
            }
            p.pass = None;
            if let Some(enc) = p.encoder.as_mut() {
                enc.resolve_query_set(&qs, 0..2, &qbuf, 0);
            }
        }
        let bytes = self.read_bytes(&qbuf, 16);
        let t: &[u64] = bytemuck::cast_slice(&bytes);
        Some(t[1].saturating_sub(t[0]) as f64 * self.ctx.queue.get_timestamp_period() as f64 * 1e-9)
    }

    /// y ← x four elements per thread, on the first ⌊n/4⌋·4 elements: a bandwidth probe
    /// for the benchmark (compare with `copy`).
    pub fn copy_vec4(&self, x: &GpuVector, y: &mut GpuVector) {
        self.vec_op(&self.pipes.copy4, Some(&x.0.buf), &y.0.buf, x.0.len / 4, 0.0, 0.0);
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        self.submit_locked(&mut p);
    }

    /// Copy `bytes` bytes of `src` to the host (a full synchronisation).
    fn read_bytes(&self, src: &wgpu::Buffer, bytes: u64) -> Vec<u8> {
        let size = bytes.max(4).div_ceil(4) * 4;
        let staging = self.staging(size);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.pass = None; // a copy cannot be recorded inside a compute pass
        let mut enc = p.encoder.take().unwrap_or_else(|| self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }));
        enc.copy_buffer_to_buffer(src, 0, &staging, 0, size);
        p.encoder = Some(enc);
        let idx = self.submit_locked(&mut p);
        drop(p);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let _ = self.ctx.device.poll(wgpu::PollType::Wait { submission_index: idx, timeout: None });
        match rx.recv() {
            Ok(Ok(())) => {}
            other => panic!("GPU read-back failed: {other:?}"),
        }
        let out = {
            let view = staging.slice(..).get_mapped_range().expect("mapped read-back buffer");
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        self.release_staging(staging);
        self.stats.readbacks.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_device_to_host.fetch_add(bytes, Ordering::Relaxed);
        out
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

    /// Read `n` working-precision values of `buf` back as f64.
    fn read_values(&self, buf: &wgpu::Buffer, n: usize) -> Vec<f64> {
        let bytes = self.read_bytes(buf, n as u64 * self.elem);
        if self.f64_mode {
            bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
        } else {
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64).collect()
        }
    }

    /// A read-back staging buffer of at least `size` bytes: from the pool (size classes of
    /// powers of two from 4 KiB) or new.
    fn staging(&self, size: u64) -> wgpu::Buffer {
        let class = size.max(4096).next_power_of_two();
        let mut pool = self.staging_pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = pool.iter().position(|b| b.size() == class) {
            self.stats.pool_hits.fetch_add(1, Ordering::Relaxed);
            return pool.swap_remove(i);
        }
        drop(pool);
        self.stats.staging_created.fetch_add(1, Ordering::Relaxed);
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: class,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Return a staging buffer to the pool (kept when small: at most 16 buffers of ≤ 64 MiB).
    fn release_staging(&self, b: wgpu::Buffer) {
        let mut pool = self.staging_pool.lock().unwrap_or_else(|e| e.into_inner());
        if b.size() <= 64 << 20 && pool.len() < 16 {
            pool.push(b);
        }
    }

    fn groups(&self, n: usize) -> (u32, u32) {
        grid((n as u64).div_ceil(WG as u64) as u32, self.ctx.limits.max_compute_workgroups_per_dimension)
    }

    fn vec_op(&self, pipeline: &wgpu::ComputePipeline, x: Option<&wgpu::Buffer>, y: &wgpu::Buffer, n: usize, a: f64, b: f64) {
        if n == 0 {
            return;
        }
        let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.pipes.vec_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: x.unwrap_or(&self.dummy).as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: y.as_entire_binding() },
            ],
        });
        let imm = imm_scalars(self.f64_mode, n as u32, a, b, 0.0);
        self.dispatch(pipeline, &bind, &imm, self.groups(n));
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
            "transfers": self.stats.to_json(),
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
        // fresh buffers are zero-initialised by wgpu
        GpuVector(self.array(n, self.elem, "vector"))
    }
    fn from_host(&self, x: &[f64]) -> GpuVector {
        GpuVector(self.array_init(&self.to_bytes(x), self.elem as usize, "vector"))
    }
    fn to_host(&self, x: &GpuVector) -> Vec<f64> {
        if x.0.len == 0 {
            return Vec::new();
        }
        self.read_values(&x.0.buf, x.0.len)
    }
    fn len(&self, x: &GpuVector) -> usize {
        x.0.len
    }
    fn copy(&self, src: &GpuVector, dst: &mut GpuVector) {
        self.vec_op(&self.pipes.copy, Some(&src.0.buf), &dst.0.buf, src.0.len, 0.0, 0.0);
    }
    fn fill(&self, x: &mut GpuVector, value: f64) {
        self.vec_op(&self.pipes.fill, None, &x.0.buf, x.0.len, value, 0.0);
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
        self.vec_op(&self.pipes.axpy, Some(&x.0.buf), &y.0.buf, y.0.len, alpha, 0.0);
    }
    fn xpby(&self, x: &GpuVector, beta: f64, y: &mut GpuVector) {
        self.vec_op(&self.pipes.xpby, Some(&x.0.buf), &y.0.buf, y.0.len, 0.0, beta);
    }
    fn scale(&self, alpha: f64, x: &mut GpuVector) {
        self.vec_op(&self.pipes.scale, None, &x.0.buf, x.0.len, alpha, 0.0);
    }
    fn pointwise_mul(&self, d: &GpuVector, x: &GpuVector, z: &mut GpuVector) {
        self.copy(x, z);
        self.vec_op(&self.pipes.pointwise_mul, Some(&d.0.buf), &z.0.buf, z.0.len, 0.0, 0.0);
    }
    fn dot(&self, x: &GpuVector, y: &GpuVector) -> f64 {
        // the batched kernel with one basis vector: same Kahan tree reduction, one read-back
        self.block_dots8(std::slice::from_ref(x), std::slice::from_ref(y))[0]
    }
    fn multi_dot(&self, basis: &[GpuVector], x: &GpuVector) -> Vec<f64> {
        self.block_dots8(basis, std::slice::from_ref(x))
    }
    fn block_dot(&self, basis: &[GpuVector], xs: &[GpuVector]) -> Vec<f64> {
        self.block_dots8(basis, xs)
    }
    fn multi_axpy(&self, basis: &[GpuVector], c: &[f64], y: &mut GpuVector) {
        self.axpy8(basis, c, y);
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
    fn multi_dot_to(&self, basis: &[GpuVector], x: &GpuVector, s: &mut scalars::GpuScalars, first: usize) {
        self.multi_dot_to_impl(basis, x, s, first)
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
    fn block_sub(&self, basis: &[GpuVector], c: &crate::linalg::backend::Coeffs, ys: &mut [GpuVector]) {
        for (j, y) in ys.iter_mut().enumerate().take(c.cols) {
            let neg: Vec<f64> = c.data[j * c.rows..(j + 1) * c.rows].iter().map(|v| -v).collect();
            self.axpy8(&basis[..c.rows.min(basis.len())], &neg, y);
        }
    }
}

impl GpuBackend {
    /// Bind group of the batched kernels: basis slots (dummy beyond `chunk`), x, work, out.
    fn multi_bind(&self, chunk: &[GpuVector], x: Option<&wgpu::Buffer>, work: wgpu::BindingResource<'_>, out: Option<&wgpu::Buffer>) -> wgpu::BindGroup {
        let mut entries: Vec<wgpu::BindGroupEntry> = (0..MULTI)
            .map(|j| wgpu::BindGroupEntry { binding: j as u32, resource: chunk.get(j).map(|v| &v.0.buf).unwrap_or(&self.dummy).as_entire_binding() })
            .collect();
        entries.push(wgpu::BindGroupEntry { binding: 8, resource: x.unwrap_or(&self.dummy).as_entire_binding() });
        entries.push(wgpu::BindGroupEntry { binding: 9, resource: work });
        entries.push(wgpu::BindGroupEntry { binding: 10, resource: out.unwrap_or(&self.dummy_rw).as_entire_binding() });
        self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &self.pipes.multi_layout, entries: &entries })
    }

    /// basis_iᵀ x_j for all i, j, column-major (i fastest): ⌈m/8⌉ dispatch pairs per x, one
    /// submission and one read-back for the whole block.
    fn block_dots8(&self, basis: &[GpuVector], xs: &[GpuVector]) -> Vec<f64> {
        let (m, b) = (basis.len(), xs.len());
        if m == 0 || b == 0 {
            return Vec::new();
        }
        let work = self.array((self.dots8_work_bytes(m, b, xs[0].0.len) / self.elem) as usize, self.elem, "partials8");
        let out = self.array(m * b, self.elem, "dots8");
        self.record_dots8(basis, xs, &work.buf, &out.buf, 0);
        self.read_values(&out.buf, m * b)
    }

    /// Bytes of the partial-sum work buffer [`GpuBackend::record_dots8`] needs.
    fn dots8_work_bytes(&self, m: usize, b: usize, n: usize) -> u64 {
        let npart = ((n as u64).div_ceil(WG as u64) as u32).clamp(1, MAX_PARTIALS);
        let stride = (MULTI as u64 * npart as u64 * self.elem).div_ceil(256) * 256;
        stride * (m.div_ceil(MULTI) * b) as u64
    }

    /// Record the dispatches that write basis_iᵀ x_j to `out[slot0 + i + j·m]` (no read-back).
    fn record_dots8(&self, basis: &[GpuVector], xs: &[GpuVector], work: &wgpu::Buffer, out: &wgpu::Buffer, slot0: usize) {
        let m = basis.len();
        let n = xs[0].0.len;
        let npart = ((n as u64).div_ceil(WG as u64) as u32).clamp(1, MAX_PARTIALS);
        let chunks = m.div_ceil(MULTI);
        let stride = (MULTI as u64 * npart as u64 * self.elem).div_ceil(256) * 256;
        for (jx, x) in xs.iter().enumerate() {
            for c in 0..chunks {
                let start = c * MULTI;
                let chunk = &basis[start..(start + MULTI).min(m)];
                let region = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: work,
                    offset: stride * (jx * chunks + c) as u64,
                    size: std::num::NonZeroU64::new(MULTI as u64 * npart as u64 * self.elem),
                });
                let bind = self.multi_bind(chunk, Some(&x.0.buf), region, Some(out));
                let imm = imm_multi(self.f64_mode, [n as u32, chunk.len() as u32, (slot0 + jx * m + start) as u32, npart], &[0.0; 8]);
                self.dispatch(&self.pipes.dot8_partial, &bind, &imm, (npart, 1));
                self.dispatch(&self.pipes.dot8_final, &bind, &imm, (chunk.len() as u32, 1));
            }
        }
    }

    /// y ← y + Σ c_i basis_i, eight basis vectors per dispatch.
    fn axpy8(&self, basis: &[GpuVector], c: &[f64], y: &GpuVector) {
        let n = y.0.len;
        if n == 0 {
            return;
        }
        for (ci, chunk) in c.chunks(MULTI).zip(basis.chunks(MULTI)) {
            if ci.iter().all(|&v| v == 0.0) {
                continue;
            }
            let mut coeff = [0.0f64; 8];
            for (d, &v) in coeff.iter_mut().zip(ci) {
                *d = v;
            }
            let bind = self.multi_bind(chunk, None, y.0.buf.as_entire_binding(), None);
            let imm = imm_multi(self.f64_mode, [n as u32, chunk.len().min(ci.len()) as u32, 0, 0], &coeff);
            self.dispatch(&self.pipes.axpy8, &bind, &imm, self.groups(n));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn spmv_axpby_inner(&self, pipeline: &wgpu::ComputePipeline, a: &GpuCsr, x: &GpuVector, alpha: f64, beta: f64, gamma: f64, y: &mut GpuVector) {
        if a.nrows == 0 {
            return;
        }
        let bind = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.pipes.spmv_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: a.row_ptr.buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: a.col.buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: a.val.buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: x.0.buf.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: y.0.buf.as_entire_binding() },
            ],
        });
        let imm = imm_scalars(self.f64_mode, a.nrows as u32, alpha, beta, gamma);
        self.dispatch(pipeline, &bind, &imm, self.groups(a.nrows));
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
