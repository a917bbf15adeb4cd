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
    /// Uploads that waited for the device to hand staging buffers back (staging.rs's ring).
    pub upload_waits: AtomicU64,
    /// Bind groups created, and dispatches that reused a cached one (bind_cache.rs).
    pub bind_groups_created: AtomicU64,
    pub bind_group_hits: AtomicU64,
    /// Arrays created, by placement (CpuOnly, GpuOnly, Unified, Adaptive).
    pub arrays: [AtomicU64; 4],
    pub chunked_arrays: AtomicU64,
}

/// The synchronisation-relevant counters at one moment, as plain numbers: take one before
/// and one after some work and subtract (`after - before`) to count its read-backs (host
/// synchronisations), dispatches and submissions, e.g. in a test on lavapipe:
/// `let c0 = g.stats().counts(); ...; assert!((g.stats().counts() - c0).readbacks <= 3)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuCounts {
    /// Downloads that waited for the device (to_host, dots, read_scalars, range reads).
    pub readbacks: u64,
    /// Kernel dispatches recorded.
    pub dispatches: u64,
    /// Command buffers submitted (read-backs, flushes, every FLUSH_EVERY dispatches).
    pub submissions: u64,
    pub uploads: u64,
    pub bytes_host_to_device: u64,
    pub bytes_device_to_host: u64,
    /// Device buffers created (pool misses).
    pub allocations: u64,
}

impl std::ops::Sub for GpuCounts {
    type Output = GpuCounts;
    /// The counts between two moments (saturating: a later minus an earlier snapshot).
    fn sub(self, o: GpuCounts) -> GpuCounts {
        GpuCounts {
            readbacks: self.readbacks.saturating_sub(o.readbacks),
            dispatches: self.dispatches.saturating_sub(o.dispatches),
            submissions: self.submissions.saturating_sub(o.submissions),
            uploads: self.uploads.saturating_sub(o.uploads),
            bytes_host_to_device: self.bytes_host_to_device.saturating_sub(o.bytes_host_to_device),
            bytes_device_to_host: self.bytes_device_to_host.saturating_sub(o.bytes_device_to_host),
            allocations: self.allocations.saturating_sub(o.allocations),
        }
    }
}

impl GpuStats {
    /// The counters now (see [`GpuCounts`]).
    pub fn counts(&self) -> GpuCounts {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GpuCounts {
            readbacks: g(&self.readbacks),
            dispatches: g(&self.dispatches),
            submissions: g(&self.submissions),
            uploads: g(&self.uploads),
            bytes_host_to_device: g(&self.bytes_host_to_device),
            bytes_device_to_host: g(&self.bytes_device_to_host),
            allocations: g(&self.allocations),
        }
    }

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
            "upload_waits": g(&self.upload_waits),
            "bind_groups_created": g(&self.bind_groups_created),
            "bind_group_hits": g(&self.bind_group_hits),
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
