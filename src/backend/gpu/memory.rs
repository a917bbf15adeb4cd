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
//! by chunk. The chunk limit can be lowered (`QDSIM_GPU_MAX_BINDING_BYTES`) to test chunking
//! on a small adapter.
//!
//! Everything here is `Send + Sync`: the array state and each pool sit behind their own
//! mutex (lock order: array state, then the pending stream, then a pool).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where an array lives (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Placement {
    CpuOnly,
    #[default]
    GpuOnly,
    Unified,
    Adaptive,
}

impl Placement {
    pub const ALL: [Placement; 4] = [Placement::CpuOnly, Placement::GpuOnly, Placement::Unified, Placement::Adaptive];

    /// The command-line spelling: cpu-only, gpu-only, unified, adaptive.
    pub fn name(self) -> &'static str {
        match self {
            Placement::CpuOnly => "cpu-only",
            Placement::GpuOnly => "gpu-only",
            Placement::Unified => "unified",
            Placement::Adaptive => "adaptive",
        }
    }

    /// Parse a name (case-insensitive; `-`, `_` or nothing between the words).
    pub fn parse(s: &str) -> Option<Placement> {
        let k: String = s.trim().to_lowercase().chars().filter(|c| *c != '-' && *c != '_').collect();
        match k.as_str() {
            "cpuonly" | "cpu" => Some(Placement::CpuOnly),
            "gpuonly" | "gpu" => Some(Placement::GpuOnly),
            "unified" => Some(Placement::Unified),
            "adaptive" => Some(Placement::Adaptive),
            _ => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Placement::CpuOnly => 0,
            Placement::GpuOnly => 1,
            Placement::Unified => 2,
            Placement::Adaptive => 3,
        }
    }
}

/// Where an array currently keeps its data (the effective behaviour of its placement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// Host only: device copies are transient.
    Host,
    /// Device only: host copies are transient.
    Device,
    /// Both sides mirrored lazily.
    Both,
}

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
    fn created(&self, bytes: u64) {
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

/// Commands recorded but not yet submitted: one encoder and, while dispatches keep coming,
/// one open compute pass (wgpu puts the needed barriers between its dispatches), so a
/// sequence of kernels costs one pass, not one pass each. Copies (uploads, downloads,
/// clears) end the open pass.
pub struct Pending {
    pub encoder: Option<wgpu::CommandEncoder>,
    pub pass: Option<wgpu::ComputePass<'static>>,
    pub dispatches: usize,
    /// Upload staging buffers used by the recorded copies; re-mapped after the submission.
    uploads: Vec<wgpu::Buffer>,
    upload_bytes: u64,
}

/// Bytes one staging buffer moves at most (larger transfers use several).
const STAGING_PIECE: u64 = 32 << 20;
/// Mapped staging bytes kept for reuse, per direction.
const STAGING_KEEP_BYTES: u64 = 128 << 20;
/// Submit the pending commands once the uploads recorded in them exceed this.
const UPLOAD_FLUSH_BYTES: u64 = 256 << 20;
/// Default bound on the bytes of freed device buffers the pool keeps (`QDSIM_GPU_POOL_BYTES`).
pub const DEFAULT_POOL_BYTES: u64 = 512 << 20;

#[derive(Default)]
struct StagingFree {
    list: Vec<wgpu::Buffer>,
    bytes: u64,
}

impl StagingFree {
    fn take(&mut self, class: u64) -> Option<wgpu::Buffer> {
        let i = self.list.iter().position(|b| b.size() == class)?;
        self.bytes -= class;
        Some(self.list.swap_remove(i))
    }
    fn put(&mut self, b: wgpu::Buffer) {
        if self.bytes + b.size() <= STAGING_KEEP_BYTES {
            self.bytes += b.size();
            self.list.push(b);
        }
    }
}

#[derive(Default)]
struct DevicePool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    bytes: u64,
}

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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

fn staging_class(bytes: u64) -> u64 {
    bytes.max(4096).next_power_of_two()
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
            pending: Mutex::new(Pending { encoder: None, pass: None, dispatches: 0, uploads: Vec::new(), upload_bytes: 0 }),
        })
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    /// Bytes of one array chunk at most.
    pub fn max_chunk_bytes(&self) -> u64 {
        self.max_chunk_bytes
    }
    /// Elements of `elem` bytes per chunk: a multiple of 256.
    pub fn chunk_elems(&self, elem: usize) -> usize {
        (self.max_chunk_bytes / elem as u64) as usize
    }

    /// The pending command stream. Lock it after any array state, never before.
    pub fn lock_pending(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    /// The pending encoder with no compute pass open (for copies and clears).
    pub fn encoder_locked<'a>(&self, p: &'a mut Pending) -> &'a mut wgpu::CommandEncoder {
        p.pass = None; // ends the open pass
        p.encoder.get_or_insert_with(|| self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None }))
    }

    /// Submit what is recorded; the upload staging buffers it used are re-mapped in the
    /// background and return to their pool.
    pub fn submit_locked(&self, p: &mut Pending) -> Option<wgpu::SubmissionIndex> {
        p.pass = None;
        let enc = p.encoder.take()?;
        p.dispatches = 0;
        p.upload_bytes = 0;
        self.stats.submissions.fetch_add(1, Ordering::Relaxed);
        let idx = self.queue.submit([enc.finish()]);
        for b in p.uploads.drain(..) {
            let free = self.write_staging.clone();
            let back = b.clone();
            b.map_async(wgpu::MapMode::Write, .., move |r| {
                if r.is_ok() {
                    lock(&free).put(back);
                }
            });
        }
        Some(idx)
    }

    /// Submit everything recorded so far.
    pub fn flush(&self) {
        let mut p = self.lock_pending();
        self.submit_locked(&mut p);
    }

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
            self.stats.device_bytes.fetch_sub(size, Ordering::Relaxed);
        }
    }

    /// Free every pooled buffer.
    pub fn trim(&self) {
        let mut pool = lock(&self.pool);
        self.stats.device_bytes.fetch_sub(pool.bytes, Ordering::Relaxed);
        pool.free.clear();
        pool.bytes = 0;
        self.stats.pool_bytes.store(0, Ordering::Relaxed);
    }

    /// A pooled device buffer returned to the pool when dropped (reduction partials and
    /// the like). Its contents are undefined.
    pub fn scratch(self: &Arc<Self>, bytes: u64) -> Scratch {
        let (buf, _) = self.acquire(bytes);
        Scratch { buf: Some(buf), mm: self.clone() }
    }

    /// Record the upload of `data` into `dst` at byte `offset`, through mapped MAP_WRITE
    /// staging buffers, into the pending stream (after everything recorded before).
    pub fn upload(&self, dst: &wgpu::Buffer, offset: u64, data: &[u8]) {
        assert!(data.len().is_multiple_of(4), "uploads move whole 4-byte words");
        for (i, piece) in data.chunks(STAGING_PIECE as usize).enumerate() {
            let len = piece.len() as u64;
            let staging = self.write_staging_buffer(len);
            {
                let mut view = staging.get_mapped_range_mut(0..len).expect("mapped upload staging buffer");
                view.copy_from_slice(piece);
            }
            staging.unmap();
            let mut p = self.lock_pending();
            self.encoder_locked(&mut p).copy_buffer_to_buffer(&staging, 0, dst, offset + i as u64 * STAGING_PIECE, len);
            p.uploads.push(staging);
            p.upload_bytes += len;
            if p.upload_bytes >= UPLOAD_FLUSH_BYTES {
                self.submit_locked(&mut p);
            }
        }
        self.stats.uploads.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_host_to_device.fetch_add(data.len() as u64, Ordering::Relaxed);
    }

    fn write_staging_buffer(&self, len: u64) -> wgpu::Buffer {
        let class = staging_class(len);
        // run the callbacks of finished re-maps (never while holding the staging lock)
        let _ = self.device.poll(wgpu::PollType::Poll);
        if let Some(b) = lock(&self.write_staging).take(class) {
            self.stats.staging_hits.fetch_add(1, Ordering::Relaxed);
            return b;
        }
        self.stats.staging_created.fetch_add(1, Ordering::Relaxed);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("upload"),
            size: class,
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        })
    }

    fn read_staging_buffer(&self, len: u64) -> wgpu::Buffer {
        let class = staging_class(len);
        if let Some(b) = lock(&self.read_staging).take(class) {
            self.stats.staging_hits.fetch_add(1, Ordering::Relaxed);
            return b;
        }
        self.stats.staging_created.fetch_add(1, Ordering::Relaxed);
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: class,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Copy the byte ranges `parts` (buffer, offset, length) of device buffers to the host,
    /// concatenated: everything pending is submitted and waited for (a full
    /// synchronisation), through pooled MAP_READ staging buffers.
    pub fn download(&self, parts: &[(&wgpu::Buffer, u64, u64)]) -> Vec<u8> {
        let total: u64 = parts.iter().map(|p| p.2).sum();
        let mut jobs: Vec<(wgpu::Buffer, u64)> = Vec::new();
        let idx = {
            let mut p = self.lock_pending();
            for &(src, off, len) in parts {
                let mut done = 0;
                while done < len {
                    let piece = (len - done).min(STAGING_PIECE);
                    let size = piece.div_ceil(4) * 4;
                    let staging = self.read_staging_buffer(size);
                    self.encoder_locked(&mut p).copy_buffer_to_buffer(src, off + done, &staging, 0, size);
                    jobs.push((staging, piece));
                    done += piece;
                }
            }
            if jobs.is_empty() {
                return Vec::new();
            }
            self.submit_locked(&mut p)
        };
        let (tx, rx) = std::sync::mpsc::channel();
        for (k, (staging, piece)) in jobs.iter().enumerate() {
            let tx = tx.clone();
            staging.map_async(wgpu::MapMode::Read, 0..piece.div_ceil(4) * 4, move |r| {
                let _ = tx.send((k, r));
            });
        }
        drop(tx);
        let _ = self.device.poll(wgpu::PollType::Wait { submission_index: idx, timeout: None });
        for _ in 0..jobs.len() {
            match rx.recv() {
                Ok((_, Ok(()))) => {}
                other => panic!("GPU read-back failed: {other:?}"),
            }
        }
        let mut out = Vec::with_capacity(total as usize);
        for (staging, piece) in jobs {
            {
                let view = staging.get_mapped_range(0..piece.div_ceil(4) * 4).expect("mapped read-back buffer");
                out.extend_from_slice(&view[..piece as usize]);
            }
            staging.unmap();
            lock(&self.read_staging).put(staging);
        }
        self.stats.readbacks.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_device_to_host.fetch_add(total, Ordering::Relaxed);
        out
    }

    /// The first `bytes` bytes of `buf` on the host (a full synchronisation).
    pub fn read_buffer(&self, buf: &wgpu::Buffer, bytes: u64) -> Vec<u8> {
        self.download(&[(buf, 0, bytes)])
    }

    /// Record a zero fill of `buf` into the pending stream.
    fn clear(&self, buf: &wgpu::Buffer) {
        let mut p = self.lock_pending();
        self.encoder_locked(&mut p).clear_buffer(buf, 0, None);
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

/// The data of a [`ManagedArray`]: which copies exist and which are current.
struct State {
    chunks: Option<Arc<[wgpu::Buffer]>>,
    host: Option<Vec<u8>>,
    host_valid: bool,
    device_valid: bool,
    /// All elements are zero (a fresh array): a side materialises zeros on first access,
    /// without a transfer.
    zero: bool,
    host_touches: u32,
    device_touches: u32,
    /// Device views alive (tracked for placements whose device copy can be dropped).
    views: u32,
}

/// Kind of device access a kernel makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads the array.
    Read,
    /// Reads and writes it.
    ReadWrite,
    /// Writes every element without reading (no upload of stale host data).
    Overwrite,
}

/// One array of `len` elements of `elem` bytes, on the host, the device or both (see the
/// module documentation). Safe to share between threads; a caller writing through it must
/// hold it exclusively (the backend's vectors take `&mut` for writes).
pub struct ManagedArray {
    mm: Arc<MemoryManager>,
    len: usize,
    elem: usize,
    chunk: usize,
    placement: Placement,
    state: Mutex<State>,
}

/// Residency of an array, for tests and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Residency {
    pub home: Home,
    pub host_copy: bool,
    pub host_valid: bool,
    pub device_copy: bool,
    pub device_valid: bool,
    pub zero: bool,
}

impl ManagedArray {
    /// An array of `len` zeros; nothing is allocated until a side touches it.
    pub fn zeros(mm: &Arc<MemoryManager>, len: usize, elem: usize, placement: Placement) -> ManagedArray {
        assert!(elem == 4 || elem == 8, "elements of 4 or 8 bytes");
        let chunk = mm.chunk_elems(elem);
        mm.stats.arrays[placement.index()].fetch_add(1, Ordering::Relaxed);
        if len > chunk {
            mm.stats.chunked_arrays.fetch_add(1, Ordering::Relaxed);
        }
        ManagedArray {
            mm: mm.clone(),
            len,
            elem,
            chunk,
            placement,
            state: Mutex::new(State { chunks: None, host: None, host_valid: false, device_valid: false, zero: true, host_touches: 0, device_touches: 0, views: 0 }),
        }
    }

    /// An array holding `data` (elements of `elem` bytes), written from the host.
    pub fn from_bytes(mm: &Arc<MemoryManager>, data: &[u8], elem: usize, placement: Placement) -> ManagedArray {
        let a = ManagedArray::zeros(mm, data.len() / elem, elem, placement);
        a.host_write(data);
        a
    }

    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn elem(&self) -> usize {
        self.elem
    }
    pub fn placement(&self) -> Placement {
        self.placement
    }
    pub fn bytes(&self) -> usize {
        self.len * self.elem
    }
    /// Elements per chunk (the last chunk may be shorter).
    pub fn chunk_elems(&self) -> usize {
        self.chunk
    }
    pub fn nchunks(&self) -> usize {
        self.len.div_ceil(self.chunk)
    }
    /// Element range of chunk `k`.
    pub fn chunk_range(&self, k: usize) -> Range<usize> {
        k * self.chunk..((k + 1) * self.chunk).min(self.len)
    }

    fn home(&self, st: &State) -> Home {
        match self.placement {
            Placement::CpuOnly => Home::Host,
            Placement::GpuOnly => Home::Device,
            Placement::Unified => Home::Both,
            Placement::Adaptive => {
                if st.device_touches >= 2 * st.host_touches + 4 {
                    Home::Device
                } else if st.host_touches >= 2 * st.device_touches + 4 {
                    Home::Host
                } else {
                    Home::Both
                }
            }
        }
    }

    /// Placements whose device copy may be dropped after use count their live views.
    fn tracks_views(&self) -> bool {
        matches!(self.placement, Placement::CpuOnly | Placement::Adaptive)
    }

    fn touch(&self, st: &mut State, device: bool) {
        if self.placement != Placement::Adaptive {
            return;
        }
        if device {
            st.device_touches += 1;
        } else {
            st.host_touches += 1;
        }
        if st.device_touches + st.host_touches >= 64 {
            st.device_touches /= 2;
            st.host_touches /= 2;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Allocate the device chunks if there are none; cleared when `zeroed` is asked for.
    fn ensure_chunks(&self, st: &mut State, zeroed: bool) -> Arc<[wgpu::Buffer]> {
        if let Some(c) = &st.chunks {
            return c.clone();
        }
        let chunks: Arc<[wgpu::Buffer]> = (0..self.nchunks())
            .map(|k| {
                let (b, fresh) = self.mm.acquire((self.chunk_range(k).len() * self.elem) as u64);
                if zeroed && !fresh {
                    self.mm.clear(&b);
                }
                b
            })
            .collect();
        st.chunks = Some(chunks.clone());
        chunks
    }

    fn upload_chunks(&self, chunks: &[wgpu::Buffer], data: &[u8]) {
        for (k, c) in chunks.iter().enumerate() {
            let r = self.chunk_range(k);
            self.mm.upload(c, 0, &data[r.start * self.elem..r.end * self.elem]);
        }
    }

    fn download_chunks(&self, chunks: &[wgpu::Buffer]) -> Vec<u8> {
        let parts: Vec<(&wgpu::Buffer, u64, u64)> = chunks.iter().enumerate().map(|(k, c)| (c, 0, (self.chunk_range(k).len() * self.elem) as u64)).collect();
        self.mm.download(&parts)
    }

    /// Drop the device copy (host data must be current first).
    fn drop_device(&self, st: &mut State) {
        if let Some(chunks) = st.chunks.take() {
            if !st.host_valid && !st.zero {
                let bytes = self.download_chunks(&chunks);
                st.host = Some(bytes);
                st.host_valid = true;
            }
            for b in chunks.iter() {
                self.mm.release(b.clone());
            }
        }
        st.device_valid = false;
    }

    /// The device chunks for a kernel that accesses the array as `access` says: uploads
    /// the host data if it is newer (not for `Overwrite`), marks the host copy stale for a
    /// write. Record the kernels while the view is alive; a `CpuOnly` array's transient
    /// device copy is copied back (after a write) and freed when its last view drops.
    pub fn device(&self, access: Access) -> DeviceView<'_> {
        let mut st = self.lock();
        self.touch(&mut st, true);
        let chunks = if st.device_valid {
            st.chunks.clone().unwrap_or_else(|| Arc::from(Vec::new()))
        } else if access == Access::Overwrite {
            self.ensure_chunks(&mut st, false)
        } else if st.zero {
            self.ensure_chunks(&mut st, true)
        } else {
            let c = self.ensure_chunks(&mut st, false);
            if let Some(h) = &st.host {
                self.upload_chunks(&c, h);
            }
            c
        };
        st.device_valid = true;
        if access != Access::Read {
            st.host_valid = false;
            st.zero = false;
        }
        if self.home(&st) == Home::Device && st.host.is_some() {
            st.host = None;
            st.host_valid = false;
        }
        let tracked = self.tracks_views();
        if tracked {
            st.views += 1;
        }
        DeviceView { array: self, chunks, tracked }
    }

    /// [`ManagedArray::device`] with `Access::Read`.
    pub fn device_read(&self) -> DeviceView<'_> {
        self.device(Access::Read)
    }
    /// [`ManagedArray::device`] with `Access::ReadWrite`.
    pub fn device_rw(&self) -> DeviceView<'_> {
        self.device(Access::ReadWrite)
    }
    /// [`ManagedArray::device`] with `Access::Overwrite`.
    pub fn device_overwrite(&self) -> DeviceView<'_> {
        self.device(Access::Overwrite)
    }

    fn end_view(&self) {
        let mut st = self.lock();
        st.views = st.views.saturating_sub(1);
        if st.views == 0 && self.home(&st) == Home::Host {
            self.drop_device(&mut st);
        }
    }

    /// Call `f` with the array's bytes on the host: the host copy if it is current, else a
    /// download (kept as the host copy unless the array lives on the device only).
    pub fn with_host<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut st = self.lock();
        self.touch(&mut st, false);
        let home = self.home(&st);
        if !st.host_valid {
            let bytes = if st.zero || st.chunks.is_none() {
                vec![0u8; self.bytes()]
            } else {
                let c = st.chunks.clone().unwrap_or_else(|| Arc::from(Vec::new()));
                self.download_chunks(&c)
            };
            if home == Home::Device {
                return f(&bytes);
            }
            st.host = Some(bytes);
            st.host_valid = true;
        }
        if home == Home::Host && st.views == 0 {
            self.drop_device(&mut st);
        }
        f(st.host.as_deref().unwrap_or(&[]))
    }

    /// The array's bytes on the host (see [`ManagedArray::with_host`]).
    pub fn host_read(&self) -> Vec<u8> {
        self.with_host(|b| b.to_vec())
    }

    /// Overwrite the whole array from the host: uploaded at once if the array lives on the
    /// device, else kept on the host and uploaded when a kernel next reads it.
    pub fn host_write(&self, data: &[u8]) {
        assert_eq!(data.len(), self.bytes(), "host_write of the whole array");
        let mut st = self.lock();
        self.touch(&mut st, false);
        st.zero = false;
        if self.home(&st) == Home::Device {
            let c = self.ensure_chunks(&mut st, false);
            self.upload_chunks(&c, data);
            st.device_valid = true;
            st.host = None;
            st.host_valid = false;
        } else {
            match &mut st.host {
                Some(h) if h.len() == data.len() => h.copy_from_slice(data),
                h => *h = Some(data.to_vec()),
            }
            st.host_valid = true;
            st.device_valid = false;
            if self.home(&st) == Home::Host && st.views == 0 {
                self.drop_device(&mut st);
            }
        }
    }

    /// Which copies exist and are current.
    pub fn residency(&self) -> Residency {
        let st = self.lock();
        Residency {
            home: self.home(&st),
            host_copy: st.host.is_some(),
            host_valid: st.host_valid,
            device_copy: st.chunks.is_some(),
            device_valid: st.device_valid,
            zero: st.zero,
        }
    }
}

impl Drop for ManagedArray {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(chunks) = st.chunks.take() {
            for b in chunks.iter() {
                self.mm.release(b.clone());
            }
        }
    }
}

/// The device chunks of an array for the kernels recorded while it is alive.
pub struct DeviceView<'a> {
    array: &'a ManagedArray,
    chunks: Arc<[wgpu::Buffer]>,
    tracked: bool,
}

impl DeviceView<'_> {
    /// Chunk `k`'s buffer (its size may exceed the chunk's bytes: pool classes).
    pub fn chunk(&self, k: usize) -> &wgpu::Buffer {
        &self.chunks[k]
    }
    pub fn chunks(&self) -> &[wgpu::Buffer] {
        &self.chunks
    }
    pub fn nchunks(&self) -> usize {
        self.chunks.len()
    }
    /// Elements of chunk `k`.
    pub fn chunk_len(&self, k: usize) -> usize {
        self.array.chunk_range(k).len()
    }
    /// Element range of chunk `k` in the whole array.
    pub fn chunk_range(&self, k: usize) -> Range<usize> {
        self.array.chunk_range(k)
    }
    /// Elements per chunk (all but the last).
    pub fn chunk_elems(&self) -> usize {
        self.array.chunk
    }
    pub fn len(&self) -> usize {
        self.array.len
    }
    pub fn is_empty(&self) -> bool {
        self.array.len == 0
    }
}

impl Drop for DeviceView<'_> {
    fn drop(&mut self) {
        if self.tracked {
            self.array.end_view();
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

    #[test]
    fn placement_names_parse() {
        for p in Placement::ALL {
            assert_eq!(Placement::parse(p.name()), Some(p));
        }
        assert_eq!(Placement::parse("GPU_ONLY"), Some(Placement::GpuOnly));
        assert_eq!(Placement::parse("somewhere"), None);
    }
}
