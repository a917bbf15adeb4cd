//! The halo access the distributed backend needs ([`HaloAccess`]): reads and adds of
//! element ranges through byte ranges of the device chunks, one submission each.

use super::kernel::Arg;
use super::{imm, DeviceView, GpuBackend, GpuVector};
use crate::linalg::backend::HaloAccess;

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
        self.mem.upload_with(&scratch, 0, src.len() as u64 * self.elem, &self.device_bytes_of(&src));
        for (k, aligned, n, lead) in pieces {
            let bytes = n as u64 * self.elem;
            let args = [Arg::Part(&scratch, lead as u64 * self.elem, bytes), Arg::Part(view.chunk(k), aligned, bytes)];
            self.rec.run(&self.kern.axpy, &args, &imm::vector(self.f64_mode, n as u32, 1.0, 0.0, 0.0), n);
        }
    }
    fn flush(&self) {
        self.mem.flush();
    }
}

impl GpuBackend {
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
}
