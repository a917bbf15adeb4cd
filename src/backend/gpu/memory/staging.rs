//! Transfers between host and device through pools of mapped staging buffers: MAP_WRITE
//! buffers for uploads (re-mapped in the background after their submission), MAP_READ
//! buffers for downloads, both recorded into the pending stream.

use std::sync::atomic::Ordering;

use super::{lock, MemoryManager};

/// Bytes one staging buffer moves at most (larger transfers use several).
const STAGING_PIECE: u64 = 32 << 20;
/// Bytes one thread copies into a mapped staging buffer.
const COPY_PIECE: usize = 1 << 20;
/// Bytes an [`MemoryManager::upload_with`] fill writes at a time, into a buffer that stays in cache.
const FILL_PIECE: usize = 64 << 10;
/// Mapped staging bytes kept for reuse, per direction.
const STAGING_KEEP_BYTES: u64 = 128 << 20;
/// Submit the pending commands once the uploads recorded in them exceed this.
const UPLOAD_FLUSH_BYTES: u64 = 64 << 20;
/// Upload staging bytes out at once (being filled, or recorded and not yet re-mapped): an
/// upload that would exceed it submits and waits for the device to hand its buffers back
/// instead of creating more. Creating a mapped buffer is an allocation of pinned host
/// memory; a 4.9 GB upload (the strained 128³ pyramid's hierarchy) created ~150 of them.
const UPLOAD_RING_BYTES: u64 = STAGING_KEEP_BYTES;

#[derive(Default)]
pub(super) struct StagingFree {
    list: Vec<wgpu::Buffer>,
    bytes: u64,
    /// (upload staging) bytes handed out and not yet back in `list` or dropped
    pub(super) out: u64,
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
        self.upload_views(dst, offset, data.len() as u64, &|at, view| view.copy_from_slice(&data[at..at + view.len()]));
    }

    /// [`MemoryManager::upload`] of `len` bytes that `fill(at, out)` writes: `out` is bytes
    /// `at .. at + out.len()` of the data (`at` and the length multiples of 8 bytes but for
    /// the end), filled on several threads for disjoint pieces and copied into the mapped
    /// staging buffers from a cache-sized buffer. Values converted on the way (f64 to f32,
    /// rebased indices) need no host copy of the whole converted array.
    pub fn upload_with(&self, dst: &wgpu::Buffer, offset: u64, len: u64, fill: &(dyn Fn(usize, &mut [u8]) + Sync)) {
        assert!(len.is_multiple_of(4), "uploads move whole 4-byte words");
        self.upload_views(dst, offset, len, &|at, view| {
            let mut buf = vec![0u8; FILL_PIECE.min(view.len())];
            for o in (0..view.len()).step_by(FILL_PIECE) {
                let n = FILL_PIECE.min(view.len() - o);
                fill(at + o, &mut buf[..n]);
                view.slice(o..o + n).copy_from_slice(&buf[..n]);
            }
        });
    }

    /// Record the upload of `len` bytes into `dst` at `offset`: `write(at, view)` writes bytes
    /// `at .. at + view.len()` into a mapped view of a staging buffer, on several threads.
    fn upload_views(&self, dst: &wgpu::Buffer, offset: u64, len: u64, write: &(dyn Fn(usize, &mut wgpu::BufferViewMut) + Sync)) {
        let mut at = 0;
        while at < len {
            let piece = (len - at).min(STAGING_PIECE);
            let staging = self.write_staging_buffer(piece);
            {
                use rayon::prelude::*;
                // several threads write a large piece, each through a view of its own range
                // (mapped views may not be split; non-overlapping ones may coexist): one
                // thread's copy into mapped memory bounds the uploads (1.5 GB per 256³ solve)
                let mut views: Vec<_> = (0..piece)
                    .step_by(COPY_PIECE)
                    .map(|a| (a, staging.get_mapped_range_mut(a..(a + COPY_PIECE as u64).min(piece)).expect("mapped upload staging buffer")))
                    .collect();
                views.par_iter_mut().for_each(|(a, view)| write((at + *a) as usize, view));
            }
            staging.unmap();
            let mut p = self.lock_pending();
            self.encoder_locked(&mut p).copy_buffer_to_buffer(&staging, 0, dst, offset + at, piece);
            p.uploads.push(staging);
            p.upload_bytes += piece;
            if p.upload_bytes >= UPLOAD_FLUSH_BYTES {
                self.submit_locked(&mut p);
            }
            at += piece;
        }
        self.stats.uploads.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_host_to_device.fetch_add(len, Ordering::Relaxed);
    }

    fn write_staging_buffer(&self, len: u64) -> wgpu::Buffer {
        let class = staging_class(len);
        // run the callbacks of finished re-maps (never while holding the staging lock)
        let _ = self.device.poll(wgpu::PollType::Poll);
        let mut waited = false;
        loop {
            {
                let mut free = lock(&self.write_staging);
                if let Some(b) = free.take(class) {
                    free.out += class;
                    self.stats.staging_hits.fetch_add(1, Ordering::Relaxed);
                    return b;
                }
                if waited || free.out + class <= UPLOAD_RING_BYTES {
                    free.out += class;
                    break;
                }
            }
            // the ring is out: submit the recorded copies and wait for them, which re-maps
            // their buffers into the free list (once; then create, whatever the classes)
            let idx = self.submit_locked(&mut self.lock_pending());
            let _ = self.device.poll(wgpu::PollType::Wait { submission_index: idx, timeout: None });
            self.stats.upload_waits.fetch_add(1, Ordering::Relaxed);
            waited = true;
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
        self.download_with(parts, |pieces| {
            use rayon::prelude::*;
            // copied out on several threads (a zeroed allocation of this size is fresh pages,
            // not a pass over memory): one thread's copy bounded the 0.67 GB read-back of ten
            // 256³ eigenvectors
            let mut out = vec![0u8; total as usize];
            let mut rest: &mut [u8] = &mut out;
            let mut jobs: Vec<(&mut [u8], &[u8])> = Vec::with_capacity(pieces.len());
            for src in pieces {
                let (dst, tail) = std::mem::take(&mut rest).split_at_mut(src.len());
                jobs.push((dst, src));
                rest = tail;
            }
            jobs.into_par_iter().for_each(|(d, s)| d.par_chunks_mut(COPY_PIECE).zip(s.par_chunks(COPY_PIECE)).for_each(|(d, s)| d.copy_from_slice(s)));
            out
        })
    }

    /// [`MemoryManager::download`] whose bytes `consume` reads from the mapped staging
    /// buffers themselves: the pieces of the ranges, in order (a range longer than a staging
    /// piece comes in several). Values converted on the way (f32 to f64) need no host copy
    /// of the device bytes.
    pub fn download_with<R>(&self, parts: &[(&wgpu::Buffer, u64, u64)], consume: impl FnOnce(&[&[u8]]) -> R) -> R {
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
                drop(p);
                return consume(&[]);
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
        let out = {
            let views: Vec<_> = jobs.iter().map(|(staging, piece)| staging.get_mapped_range(0..piece.div_ceil(4) * 4).expect("mapped read-back buffer")).collect();
            let pieces: Vec<&[u8]> = views.iter().zip(&jobs).map(|(view, (_, piece))| &view[..*piece as usize]).collect();
            consume(&pieces)
        };
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
