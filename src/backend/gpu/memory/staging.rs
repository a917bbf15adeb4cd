//! Transfers between host and device through pools of mapped staging buffers: MAP_WRITE
//! buffers for uploads (re-mapped in the background after their submission), MAP_READ
//! buffers for downloads, both recorded into the pending stream.

use std::sync::atomic::Ordering;

use super::{lock, MemoryManager};

/// Bytes one staging buffer moves at most (larger transfers use several).
const STAGING_PIECE: u64 = 32 << 20;
/// Bytes one thread copies into a mapped staging buffer.
const COPY_PIECE: usize = 1 << 20;
/// Mapped staging bytes kept for reuse, per direction.
const STAGING_KEEP_BYTES: u64 = 128 << 20;
/// Submit the pending commands once the uploads recorded in them exceed this.
const UPLOAD_FLUSH_BYTES: u64 = 256 << 20;

#[derive(Default)]
pub(super) struct StagingFree {
    list: Vec<wgpu::Buffer>,
    bytes: u64,
}

impl StagingFree {
    pub(super) fn take(&mut self, class: u64) -> Option<wgpu::Buffer> {
        let i = self.list.iter().position(|b| b.size() == class)?;
        self.bytes -= class;
        Some(self.list.swap_remove(i))
    }
    pub(super) fn put(&mut self, b: wgpu::Buffer) {
        if self.bytes + b.size() <= STAGING_KEEP_BYTES {
            self.bytes += b.size();
            self.list.push(b);
        }
    }
}

fn staging_class(bytes: u64) -> u64 {
    bytes.max(4096).next_power_of_two()
}

impl MemoryManager {
    /// Record the upload of `data` into `dst` at byte `offset`, through mapped MAP_WRITE
    /// staging buffers, into the pending stream (after everything recorded before).
    pub fn upload(&self, dst: &wgpu::Buffer, offset: u64, data: &[u8]) {
        assert!(data.len().is_multiple_of(4), "uploads move whole 4-byte words");
        for (i, piece) in data.chunks(STAGING_PIECE as usize).enumerate() {
            let len = piece.len() as u64;
            let staging = self.write_staging_buffer(len);
            {
                use rayon::prelude::*;
                // several threads write a large piece, each through a view of its own range
                // (mapped views may not be split; non-overlapping ones may coexist): one
                // thread's copy into mapped memory bounds the uploads (1.5 GB per 256³ solve)
                let mut views: Vec<_> = (0..len)
                    .step_by(COPY_PIECE)
                    .map(|a| staging.get_mapped_range_mut(a..(a + COPY_PIECE as u64).min(len)).expect("mapped upload staging buffer"))
                    .collect();
                views.par_iter_mut().zip(piece.par_chunks(COPY_PIECE)).for_each(|(d, s)| d.copy_from_slice(s));
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
            let idx = self.submit_locked(&mut p);
            self.ramp_flushes(&mut p);
            idx
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
        // copied out on several threads (a zeroed allocation of this size is fresh pages,
        // not a pass over memory): one thread's copy bounded the 0.67 GB read-back of ten
        // 256³ eigenvectors
        let mut out = vec![0u8; total as usize];
        {
            use rayon::prelude::*;
            let views: Vec<_> = jobs.iter().map(|(staging, piece)| staging.get_mapped_range(0..piece.div_ceil(4) * 4).expect("mapped read-back buffer")).collect();
            let mut rest: &mut [u8] = &mut out;
            let mut pieces: Vec<(&mut [u8], &[u8])> = Vec::with_capacity(views.len());
            for (view, (_, piece)) in views.iter().zip(&jobs) {
                let (dst, tail) = std::mem::take(&mut rest).split_at_mut(*piece as usize);
                pieces.push((dst, &view[..*piece as usize]));
                rest = tail;
            }
            pieces.into_par_iter().for_each(|(d, s)| d.par_chunks_mut(COPY_PIECE).zip(s.par_chunks(COPY_PIECE)).for_each(|(d, s)| d.copy_from_slice(s)));
        }
        for (staging, _) in jobs {
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
}
