//! The GPU buffer manager: an emulation of CUDA unified memory on wgpu.
//!
//! One [`ManagedArray`] handle per array owns its device buffers and, lazily, a host copy,
//! with dirty tracking on both sides (`host_valid` / `device_valid`, plus a `zero` state for
//! fresh arrays that neither side has materialised yet). Where the data lives follows the
//! array's [`Placement`]:
//!
//! * `CpuOnly`: the data lives on the host. A device access uploads a transient device copy
//!   (every time), and once the last kernel using it has been recorded, a device write is
//!   copied back to the host and the device copy is returned to the pool — the traffic of
//!   zero-copy host memory.
//! * `GpuOnly` (the default for solver vectors and matrices): the data lives on the device.
//!   A host read is a transient download (no mirror is kept); a host write uploads.
//! * `Unified`: both sides mirrored lazily, like `cudaMallocManaged`: a side is refreshed
//!   only when it is accessed after the other side wrote.
//! * `Adaptive`: starts as `Unified` and counts the accesses of each side (the counts are
//!   halved whenever their sum reaches 64, so recent use weighs most). When the device's
//!   count reaches twice the host's plus 4 the array behaves as `GpuOnly` (its host mirror
//!   is dropped); when the host's count reaches twice the device's plus 4 it behaves as
//!   `CpuOnly` (its device copy is dropped); in between, as `Unified`.
//!
//! Transfers go through pools of mapped staging buffers: MAP_WRITE buffers for uploads (the
//! host writes into the mapped buffer, a `copy_buffer_to_buffer` in the pending command
//! stream moves it, and after that submission the buffer is re-mapped in the background and
//! returns to the pool), MAP_READ buffers for downloads. Both are recorded into the one
//! pending encoder ([`Pending`]) the kernels go to, so uploads, kernels and downloads execute
//! in the order the host issued them.
//!
//! Device buffers come from a size-class pool (classes: eight per octave from 4 KiB, so at
//! most 12.5 % padding); a freed buffer returns to its class, bounded in total bytes. Reuse
//! is safe without waiting on the GPU because every use of a buffer is recorded into one
//! in-order stream: a buffer freed after its last kernel was recorded can be written by the
//! next owner's commands, which come later in that stream.
//!
//! Arrays longer than one storage binding (or buffer) of the adapter are split into chunks
//! of equal length, a multiple of 256 elements ([`MemoryManager::chunk_elems`]), so arrays of
//! one length and element size have the same chunks and element-wise kernels zip them chunk
//! by chunk. The chunk limit can be lowered (`GpuOptions::max_binding_bytes`) to test
//! chunking on a small adapter.
//!
//! Everything here is `Send + Sync`: the array state and each pool sit behind their own
//! mutex (lock order: array state, then the pending stream, then a pool).
//!
//! Files: placement.rs (Placement, Home), array.rs (ManagedArray, DeviceView), pool.rs
//! (device-buffer pool, Scratch), staging.rs (uploads and downloads), stream.rs (the pending
//! encoder and its submission), stats.rs (GpuStats), profile.rs (per-kernel timestamps); this file, the MemoryManager that owns
//! the pools and the stream.

mod array;
mod bind_cache;
mod placement;
mod pool;
mod profile;
mod staging;
mod stats;
mod stream;

use std::sync::{Arc, Mutex, MutexGuard};

pub use array::{Access, DeviceView, ManagedArray, Residency};
pub use bind_cache::BindKey;
use bind_cache::BindCache;
pub use placement::{Home, Placement};
pub use pool::{size_class, Scratch, DEFAULT_POOL_BYTES};
pub use profile::{KernelProfile, KernelTime};
use pool::DevicePool;
use staging::StagingFree;
pub use stats::{GpuCounts, GpuStats};
pub use stream::Pending;

/// The pool of device buffers, the staging pools, the pending command stream and the
/// statistics of one device. Shared by `Arc` between the backend and every array.
pub struct MemoryManager {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pub stats: GpuStats,
    /// Bytes of one array chunk at most: a multiple of 2048 (256 elements of 8 bytes).
    max_chunk_bytes: u64,
    /// The largest buffer one storage binding may cover on this adapter.
    max_binding_bytes: u64,
    pool_cap: u64,
    pool: Mutex<DevicePool>,
    read_staging: Mutex<StagingFree>,
    write_staging: Arc<Mutex<StagingFree>>,
    pending: Mutex<Pending>,
    /// [`crate::backend::gpu::GpuOptions::first_flush`].
    first_flush: std::sync::atomic::AtomicUsize,
    /// Bind groups for reuse (bind_cache.rs); its lock is taken last, after a pool's.
    bind_cache: Mutex<BindCache>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryManager {
    /// A manager for `device`. `max_binding_override`: a smaller chunk limit in bytes than
    /// the adapter's (to test chunking); `pool_bytes`: the pool's bound.
    pub fn new(device: wgpu::Device, queue: wgpu::Queue, limits: &wgpu::Limits, max_binding_override: Option<u64>, pool_bytes: u64) -> Arc<MemoryManager> {
        let max_binding_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size) / 4 * 4;
        let limit = max_binding_override.map_or(max_binding_bytes, |o| o.min(max_binding_bytes));
        let max_chunk_bytes = (limit / 2048 * 2048).max(2048);
        Arc::new(MemoryManager {
            device,
            queue,
            stats: GpuStats::default(),
            max_chunk_bytes,
            max_binding_bytes,
            pool_cap: pool_bytes,
            pool: Mutex::new(DevicePool::default()),
            read_staging: Mutex::new(StagingFree::default()),
            write_staging: Arc::new(Mutex::new(StagingFree::default())),
            pending: Mutex::new(Pending { flush_at: crate::backend::gpu::FLUSH_EVERY, ..Pending::default() }),
            first_flush: std::sync::atomic::AtomicUsize::new(crate::backend::gpu::FLUSH_EVERY),
            bind_cache: Mutex::new(BindCache::default()),
        })
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    /// Bytes of one array chunk at most.
    pub fn max_chunk_bytes(&self) -> u64 {
        self.max_chunk_bytes
    }
    /// The bind group of `key`: a cached one, or `create`'s, kept for reuse (bind_cache.rs).
    pub fn bind_group(&self, key: BindKey, create: impl FnOnce(&BindKey) -> wgpu::BindGroup) -> wgpu::BindGroup {
        use std::sync::atomic::Ordering;
        if let Some(g) = lock(&self.bind_cache).get(&key) {
            self.stats.bind_group_hits.fetch_add(1, Ordering::Relaxed);
            return g;
        }
        let g = create(&key);
        self.stats.bind_groups_created.fetch_add(1, Ordering::Relaxed);
        lock(&self.bind_cache).insert(key, g.clone());
        g
    }

    /// Drop every cached bind group (before a buffer is let go for good, so that no group
    /// keeps its memory alive).
    pub(super) fn forget_bind_groups(&self) {
        lock(&self.bind_cache).clear();
    }

    /// Bind groups cached now.
    pub fn cached_bind_groups(&self) -> usize {
        lock(&self.bind_cache).len()
    }

    /// Elements of `elem` bytes per chunk: a multiple of 256.
    pub fn chunk_elems(&self, elem: usize) -> usize {
        (self.max_chunk_bytes / elem as u64) as usize
    }
}
