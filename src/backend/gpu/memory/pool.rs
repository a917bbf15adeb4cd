//! The pool of device buffers: size classes (eight per octave from 4 KiB), reuse without
//! waiting on the GPU (every use of a buffer is recorded in one in-order stream), a bound on
//! the bytes kept, and [`Scratch`] buffers that return to the pool when dropped.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lock, MemoryManager};

/// Default bound on the bytes of freed device buffers the pool keeps (`QDSIM_GPU_POOL_BYTES`).
pub const DEFAULT_POOL_BYTES: u64 = 512 << 20;

#[derive(Default)]
pub(super) struct DevicePool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    bytes: u64,
}

/// Size class of a device buffer of `bytes`: eight classes per octave from 4 KiB.
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(4096);
    let p = b.next_power_of_two();
    if p == b {
        return b;
    }
    let step = p / 16;
    b.div_ceil(step) * step
}

impl MemoryManager {
    /// A device buffer (STORAGE | COPY_SRC | COPY_DST) of at least `bytes`: from the pool,
    /// or new. `true` with a new buffer, which wgpu zero-initialises.
    pub fn acquire(&self, bytes: u64) -> (wgpu::Buffer, bool) {
        let class = size_class(bytes).min(self.max_binding_bytes).max(bytes.div_ceil(4) * 4);
        {
            let mut pool = lock(&self.pool);
            if let Some(b) = pool.free.get_mut(&class).and_then(|v| v.pop()) {
                pool.bytes -= class;
                self.stats.pool_bytes.store(pool.bytes, Ordering::Relaxed);
                self.stats.pool_hits.fetch_add(1, Ordering::Relaxed);
                return (b, false);
            }
        }
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("managed"),
            size: class,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.stats.created(class);
        (buf, true)
    }

    /// Give a device buffer back: kept in its class while the pool is under its bound,
    /// freed otherwise.
    pub fn release(&self, b: wgpu::Buffer) {
        let size = b.size();
        let mut pool = lock(&self.pool);
        if pool.bytes + size <= self.pool_cap {
            pool.bytes += size;
            self.stats.pool_bytes.store(pool.bytes, Ordering::Relaxed);
            pool.free.entry(size).or_default().push(b);
        } else {
            drop(pool);
            self.stats.device_bytes.fetch_sub(size, Ordering::Relaxed);
            self.forget_bind_groups();
            drop(b);
        }
    }

    /// Free every pooled buffer.
    pub fn trim(&self) {
        let mut pool = lock(&self.pool);
        self.stats.device_bytes.fetch_sub(pool.bytes, Ordering::Relaxed);
        pool.free.clear();
        pool.bytes = 0;
        self.stats.pool_bytes.store(0, Ordering::Relaxed);
        drop(pool);
        self.forget_bind_groups();
    }

    /// A pooled device buffer returned to the pool when dropped (reduction partials and
    /// the like). Its contents are undefined.
    pub fn scratch(self: &Arc<Self>, bytes: u64) -> Scratch {
        let (buf, _) = self.acquire(bytes);
        Scratch { buf: Some(buf), mm: self.clone() }
    }
}

/// A pooled device buffer, returned to the pool when dropped.
pub struct Scratch {
    buf: Option<wgpu::Buffer>,
    mm: Arc<MemoryManager>,
}

impl std::ops::Deref for Scratch {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        self.buf.as_ref().expect("scratch buffer present until dropped")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            self.mm.release(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_round_up_by_at_most_an_eighth() {
        assert_eq!(size_class(1), 4096);
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(4097), 4096 + 512);
        for b in [5000u64, 65_537, 1 << 20, (1 << 20) + 1, 36_000_000, 123_456_789] {
            let c = size_class(b);
            assert!(c >= b && (c - b) * 8 <= b, "{b} -> {c}");
            assert_eq!(c % 256, 0);
        }
    }
}
