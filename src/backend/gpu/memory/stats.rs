//! The counters of a device's memory traffic, allocations and dispatches.

use std::sync::atomic::{AtomicU64, Ordering};

/// Transfer, allocation and dispatch counters (results.json `backend.details.transfers`).
#[derive(Debug, Default)]
pub struct GpuStats {
    pub bytes_host_to_device: AtomicU64,
    pub bytes_device_to_host: AtomicU64,
    pub uploads: AtomicU64,
    /// Downloads that synchronised with the device (array read-backs and reduction results).
    pub readbacks: AtomicU64,
    /// Device buffers created (pool misses) and their bytes.
    pub allocations: AtomicU64,
    pub bytes_allocated: AtomicU64,
    /// Device bytes held now (by arrays, scratch buffers and the pool) and at most.
    pub device_bytes: AtomicU64,
    pub peak_device_bytes: AtomicU64,
    pub pool_hits: AtomicU64,
    pub pool_bytes: AtomicU64,
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub staging_created: AtomicU64,
    pub staging_hits: AtomicU64,
    /// Arrays created, by placement (CpuOnly, GpuOnly, Unified, Adaptive).
    pub arrays: [AtomicU64; 4],
    pub chunked_arrays: AtomicU64,
}

impl GpuStats {
    pub(super) fn created(&self, bytes: u64) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        self.bytes_allocated.fetch_add(bytes, Ordering::Relaxed);
        let live = self.device_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak_device_bytes.fetch_max(live, Ordering::Relaxed);
    }

    pub fn to_json(&self) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let hits = g(&self.pool_hits);
        let allocs = g(&self.allocations);
        serde_json::json!({
            "bytes_host_to_device": g(&self.bytes_host_to_device),
            "bytes_device_to_host": g(&self.bytes_device_to_host),
            "uploads": g(&self.uploads),
            "readbacks": g(&self.readbacks),
            "allocations": allocs,
            "bytes_allocated": g(&self.bytes_allocated),
            "device_bytes": g(&self.device_bytes),
            "peak_device_bytes": g(&self.peak_device_bytes),
            "pool_hits": hits,
            "pool_misses": allocs,
            "pool_bytes": g(&self.pool_bytes),
            "dispatches": g(&self.dispatches),
            "submissions": g(&self.submissions),
            "staging_buffers_created": g(&self.staging_created),
            "staging_pool_hits": g(&self.staging_hits),
            "arrays": {
                "cpu_only": g(&self.arrays[0]),
                "gpu_only": g(&self.arrays[1]),
                "unified": g(&self.arrays[2]),
                "adaptive": g(&self.arrays[3]),
                "chunked": g(&self.chunked_arrays),
            },
        })
    }
}
