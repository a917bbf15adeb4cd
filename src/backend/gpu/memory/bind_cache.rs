//! Reuse of bind groups: a dispatch's bind group is looked up by its layout and the buffer
//! ranges it binds (buffers compare by identity) before one is created. Creating a bind
//! group was ~83 % of the host's cost of recording a dispatch (callgrind, lavapipe, 2026-12-03:
//! ~35 k of ~42 k instructions per dispatch of the 17–20-binding block kernels), and the
//! iterations of a block eigensolver bind the same vectors again every step (the pool hands
//! freed buffers out again in LIFO order, so even fresh arrays often reuse a buffer's groups).
//!
//! A cached group holds its buffers alive, so the cache is cleared whenever the pool lets a
//! buffer go for good ([`super::MemoryManager::release`] above its bound, `trim`): memory
//! given back is never pinned by a group. It is also cleared when it reaches [`CAPACITY`]
//! entries. Pooled buffers stay alive in the pool anyway, so their groups cost nothing.

use std::collections::HashMap;

/// Entries at most; the cache is emptied when a new entry would pass it.
pub const CAPACITY: usize = 4096;

/// What a bind group binds: its layout and, per binding in order, the buffer, the offset and
/// the size (`u64::MAX` for the whole buffer).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BindKey {
    pub layout: wgpu::BindGroupLayout,
    pub slots: Vec<(wgpu::Buffer, u64, u64)>,
}

#[derive(Default)]
pub(super) struct BindCache {
    groups: HashMap<BindKey, wgpu::BindGroup>,
}

impl BindCache {
    pub(super) fn get(&self, key: &BindKey) -> Option<wgpu::BindGroup> {
        self.groups.get(key).cloned()
    }
    pub(super) fn insert(&mut self, key: BindKey, group: wgpu::BindGroup) {
        if self.groups.len() >= CAPACITY {
            self.groups.clear();
        }
        self.groups.insert(key, group);
    }
    pub(super) fn clear(&mut self) {
        self.groups.clear();
    }
    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }
}
