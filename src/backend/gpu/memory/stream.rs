//! The pending command stream: the one encoder that uploads, kernels and downloads are
//! recorded into in the order the host issues them, and its submission.

use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use super::{lock, MemoryManager};

/// Commands recorded but not yet submitted: one encoder and, while dispatches keep coming,
/// one open compute pass (wgpu puts the needed barriers between its dispatches), so a
/// sequence of kernels costs one pass, not one pass each. Copies (uploads, downloads,
/// clears) end the open pass.
#[derive(Default)]
pub struct Pending {
    pub encoder: Option<wgpu::CommandEncoder>,
    pub pass: Option<wgpu::ComputePass<'static>>,
    pub dispatches: usize,
    /// Upload staging buffers used by the recorded copies; re-mapped after the submission.
    pub(super) uploads: Vec<wgpu::Buffer>,
    pub(super) upload_bytes: u64,
}

impl MemoryManager {
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

    /// Record a zero fill of `buf` into the pending stream.
    pub(super) fn clear(&self, buf: &wgpu::Buffer) {
        let mut p = self.lock_pending();
        self.encoder_locked(&mut p).clear_buffer(buf, 0, None);
    }
}
