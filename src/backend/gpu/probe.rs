//! Probes of the device's memory regime for the benchmark (`qdsim-gpu bench --gpu`, issue
//! 13 item 4): device buffers allocated outside the pool, each its own allocation of wgpu's
//! allocator (gpu-allocator on Vulkan: sub-allocated in 128–256 MiB memory blocks, or a
//! block of its own above the block size), and the copy kernels on them at chosen byte
//! offsets, so a copy's rate can be compared across allocation sizes, orders and offsets.

use super::kernel::Arg;
use super::{imm, GpuBackend};

/// A device buffer outside the pool (STORAGE | COPY_SRC | COPY_DST), freed when dropped.
pub struct ProbeBuffer(wgpu::Buffer);

impl ProbeBuffer {
    pub fn size(&self) -> u64 {
        self.0.size()
    }
}

impl GpuBackend {
    /// A new device buffer of `bytes` (rounded up to 4), zero-initialised, not from the pool.
    pub fn probe_buffer(&self, bytes: u64) -> ProbeBuffer {
        ProbeBuffer(self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("probe"),
            size: bytes.div_ceil(4) * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// The alignment of a binding's byte offset on this adapter.
    pub fn binding_offset_alignment(&self) -> u64 {
        self.ctx.limits.min_storage_buffer_offset_alignment as u64
    }

    /// Record the vec4 copy kernel over `n` elements (a multiple of 4) from `src` at byte
    /// `src_off` to `dst` at byte `dst_off` (offsets: multiples of
    /// [`GpuBackend::binding_offset_alignment`]).
    pub fn probe_copy4(&self, src: &ProbeBuffer, src_off: u64, dst: &ProbeBuffer, dst_off: u64, n: usize) {
        let bytes = (n / 4 * 4) as u64 * self.elem;
        let args = [Arg::Part(&src.0, src_off, bytes), Arg::Part(&dst.0, dst_off, bytes)];
        self.rec.run(&self.kern.copy4, &args, &imm::vector(self.f64_mode, (n / 4) as u32, 0.0, 0.0, 0.0), n / 4);
    }

    /// Record the scalar copy kernel over `n` elements, as [`GpuBackend::probe_copy4`].
    pub fn probe_copy(&self, src: &ProbeBuffer, src_off: u64, dst: &ProbeBuffer, dst_off: u64, n: usize) {
        let bytes = n as u64 * self.elem;
        let args = [Arg::Part(&src.0, src_off, bytes), Arg::Part(&dst.0, dst_off, bytes)];
        self.rec.run(&self.kern.copy, &args, &imm::vector(self.f64_mode, n as u32, 0.0, 0.0, 0.0), n);
    }

    /// Record a copy of `bytes` from `src` to `dst` by the command encoder
    /// (copy_buffer_to_buffer: the driver's copy, as cudaMemcpy device to device).
    pub fn probe_copy_encoder(&self, src: &ProbeBuffer, dst: &ProbeBuffer, bytes: u64) {
        let mut p = self.mem.lock_pending();
        self.mem.encoder_locked(&mut p).copy_buffer_to_buffer(&src.0, 0, &dst.0, 0, bytes);
    }
}
