//! [`ManagedArray`]: one array's device chunks and lazy host copy with dirty tracking on
//! both sides, behaving as its [`Placement`] says; [`DeviceView`]: its chunks for the kernels
//! recorded while the view lives.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{lock, Home, MemoryManager, Placement};

/// Bytes one thread fills of a host copy in [`ManagedArray::host_write_with`].
const HOST_FILL_PIECE: usize = 1 << 20;

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
        Self::zeros_chunked(mm, len, elem, placement, mm.chunk_elems(elem))
    }

    fn zeros_chunked(mm: &Arc<MemoryManager>, len: usize, elem: usize, placement: Placement, chunk: usize) -> ManagedArray {
        assert!(elem == 4 || elem == 8, "elements of 4 or 8 bytes");
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

    /// An array of `len` zeros in one chunk even where that exceeds the chunk limit (which
    /// tests lower to a few kiB): small arrays that kernels address by index in one
    /// binding (the device scalars). `len` elements must fit one storage binding.
    pub fn zeros_one_chunk(mm: &Arc<MemoryManager>, len: usize, elem: usize, placement: Placement) -> ManagedArray {
        assert!((len * elem) as u64 <= mm.max_binding_bytes, "{len} elements exceed one storage binding");
        Self::zeros_chunked(mm, len, elem, placement, mm.chunk_elems(elem).max(len))
    }

    /// An array holding `data` (elements of `elem` bytes), written from the host.
    pub fn from_bytes(mm: &Arc<MemoryManager>, data: &[u8], elem: usize, placement: Placement) -> ManagedArray {
        let a = ManagedArray::zeros(mm, data.len() / elem, elem, placement);
        a.host_write(data);
        a
    }

    /// An array of `len` elements written by `fill` (see [`ManagedArray::host_write_with`]).
    pub fn from_fill(mm: &Arc<MemoryManager>, len: usize, elem: usize, placement: Placement, fill: &(dyn Fn(usize, &mut [u8]) + Sync)) -> ManagedArray {
        let a = ManagedArray::zeros(mm, len, elem, placement);
        a.host_write_with(fill);
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

    /// Whether the newest data is only in the device copy (a read on the host downloads).
    pub fn device_newer(&self) -> bool {
        let st = self.lock();
        !st.host_valid && !st.zero && st.chunks.is_some()
    }

    /// The array's bytes on the host (see [`ManagedArray::with_host`]).
    pub fn host_read(&self) -> Vec<u8> {
        self.with_host(|b| b.to_vec())
    }

    /// Overwrite the whole array from the host: uploaded at once if the array lives on the
    /// device, else kept on the host and uploaded when a kernel next reads it.
    pub fn host_write(&self, data: &[u8]) {
        assert_eq!(data.len(), self.bytes(), "host_write of the whole array");
        self.host_write_with(&|at, out| out.copy_from_slice(&data[at..at + out.len()]));
    }

    /// [`ManagedArray::host_write`] of the bytes `fill(at, out)` writes: `out` is bytes
    /// `at .. at + out.len()` of the array (multiples of the element size), called on several
    /// threads for disjoint pieces, straight into the upload staging where the array lives on
    /// the device, else into its host copy.
    pub fn host_write_with(&self, fill: &(dyn Fn(usize, &mut [u8]) + Sync)) {
        let mut st = self.lock();
        self.touch(&mut st, false);
        st.zero = false;
        if self.home(&st) == Home::Device {
            let c = self.ensure_chunks(&mut st, false);
            for (k, c) in c.iter().enumerate() {
                let r = self.chunk_range(k);
                let b0 = r.start * self.elem;
                self.mm.upload_with(c, 0, (r.len() * self.elem) as u64, &|at, out| fill(b0 + at, out));
            }
            st.device_valid = true;
            st.host = None;
            st.host_valid = false;
        } else {
            use rayon::prelude::*;
            let bytes = self.bytes();
            let h = match &mut st.host {
                Some(h) if h.len() == bytes => h,
                h => h.insert(vec![0u8; bytes]),
            };
            h.par_chunks_mut(HOST_FILL_PIECE).enumerate().for_each(|(j, out)| fill(j * HOST_FILL_PIECE, out));
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
