//! Vectors on the device ([`GpuVector`]: one managed array of f32 or f64 elements) and the
//! element-wise kernels of shaders/vector.wgsl, one dispatch per chunk.

use super::kernel::Kernel;
use super::{imm, DeviceView, GpuBackend, ManagedArray, Placement};

/// A vector on the device (f32 or f64 elements): one managed array.
pub struct GpuVector(pub(super) ManagedArray);

impl GpuVector {
    /// The managed array behind the vector (placement, residency, host access).
    pub fn array(&self) -> &ManagedArray {
        &self.0
    }
}

impl GpuBackend {
    /// A zero vector of `n` elements with the given placement.
    pub fn alloc_placed(&self, n: usize, placement: Placement) -> GpuVector {
        GpuVector(ManagedArray::zeros(&self.mem, n, self.elem as usize, placement))
    }

    /// A vector holding `x`, with the given placement.
    pub fn from_host_placed(&self, x: &[f64], placement: Placement) -> GpuVector {
        GpuVector(self.array_of(x, placement))
    }

    /// y ← x four elements per thread, on the first ⌊n/4⌋·4 elements: a bandwidth probe
    /// for the benchmark (compare with `copy`).
    pub fn copy_vec4(&self, x: &GpuVector, y: &mut GpuVector) {
        let (xv, yv) = (x.0.device_read(), y.0.device_rw());
        self.vec_op(&self.kern.copy4, Some(&xv), &yv, 4, 0.0, 0.0);
    }

    /// An element-wise kernel on y (and x, of the same length): one dispatch per chunk.
    /// `unit`: elements per thread (4 for the vec4 kernel, which covers ⌊n/4⌋·4 of each chunk).
    pub(super) fn vec_op(&self, k: &Kernel, x: Option<&DeviceView>, y: &DeviceView, unit: usize, a: f64, b: f64) {
        for c in 0..y.nchunks() {
            let n = y.chunk_len(c) / unit;
            if n == 0 {
                continue;
            }
            self.rec.run(k, &[x.map(|x| x.chunk(c)).into(), y.chunk(c).into()], &imm::vector(self.f64_mode, n as u32, a, b, 0.0), n);
        }
    }
}
