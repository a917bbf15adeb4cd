//! The immediates (push constants) of every kernel file: one `#[repr(C)]` [`Pod`] struct per
//! WGSL `struct Imm`, in each precision it is compiled in, field for field (explicit `_pad`
//! fields where WGSL aligns a member further than Rust would: an f64 after a u32, a
//! `vec4<f64>` at 32 bytes). A test compares sizes and offsets with naga's layout of the
//! shader's struct, and the kernels take their immediate size from that layout too
//! ([`super::kernel::Program`]), so a struct and its shader cannot drift apart silently.
//!
//! The functions at the end build the bytes of one dispatch in the working precision
//! (`f64_mode`), converting the f64 scalars the backend works with.

use bytemuck::{bytes_of, Pod, Zeroable};

/// shaders/vector.wgsl, f32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct VectorImm32 {
    pub n: u32,
    pub alpha: f32,
    pub beta: f32,
    pub gamma: f32,
}

/// shaders/vector.wgsl, f64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct VectorImm64 {
    pub n: u32,
    pub _pad: u32,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
}

/// shaders/spmv.wgsl, f32 (`xoff`: the block's first row in the bound window of x).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SpmvImm32 {
    pub n: u32,
    pub xoff: u32,
    pub alpha: f32,
    pub beta: f32,
    pub gamma: f32,
}

/// shaders/spmv.wgsl, f64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SpmvImm64 {
    pub n: u32,
    pub xoff: u32,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
}

/// shaders/stencil.wgsl, f32.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct StencilImm32 {
    pub n: u32,
    pub nx: u32,
    pub ny: u32,
    pub nxy: u32,
    pub alpha: f32,
    pub beta: f32,
    pub gamma: f32,
}

/// shaders/stencil.wgsl, f64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct StencilImm64 {
    pub n: u32,
    pub nx: u32,
    pub ny: u32,
    pub nxy: u32,
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
}

/// shaders/multi.wgsl, f32: eight coefficients as two `vec4<f32>`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MultiImm32 {
    pub n: u32,
    pub k: u32,
    pub slot: u32,
    pub npartials: u32,
    pub c0: [f32; 4],
    pub c1: [f32; 4],
}

/// shaders/multi.wgsl, f64: `vec4<f64>` is 32-byte aligned.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct MultiImm64 {
    pub n: u32,
    pub k: u32,
    pub slot: u32,
    pub npartials: u32,
    pub _pad: [u32; 4],
    pub c0: [f64; 4],
    pub c1: [f64; 4],
}

/// shaders/spmm.wgsl (no float member: one layout for both precisions). The block
/// kernels of shaders/block.wgsl take [`MultiImm32`] / [`MultiImm64`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SpmmImm {
    pub n: u32,
    pub k: u32,
    pub nx: u32,
    pub ny: u32,
    pub nxy: u32,
    /// The transfer kernels only: the coarse grid, the element count of the input grid,
    /// the coarsened axes (bit a for axis a).
    pub cnx: u32,
    pub cny: u32,
    pub cnxy: u32,
    pub m: u32,
    pub flags: u32,
}

/// shaders/gram.wgsl (no float member: one layout for both precisions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GramImm {
    pub n: u32,
    pub kb: u32,
    pub kx: u32,
    pub slot: u32,
    pub npartials: u32,
    pub ld: u32,
    pub tb: u32,
    pub stride: u32,
    pub t0: u32,
}

/// shaders/cg.wgsl (no float member: one layout for both precisions).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct CgImm {
    pub n: u32,
    pub num: u32,
    pub den: u32,
    pub sign: i32,
}

/// vector.wgsl: `n` elements and the scalars α, β, γ.
pub fn vector(f64_mode: bool, n: u32, alpha: f64, beta: f64, gamma: f64) -> Vec<u8> {
    if f64_mode {
        bytes_of(&VectorImm64 { n, _pad: 0, alpha, beta, gamma }).to_vec()
    } else {
        bytes_of(&VectorImm32 { n, alpha: alpha as f32, beta: beta as f32, gamma: gamma as f32 }).to_vec()
    }
}

/// spmv.wgsl: `n` rows, x window offset `xoff`, α, β, γ.
pub fn spmv(f64_mode: bool, n: u32, xoff: u32, alpha: f64, beta: f64, gamma: f64) -> Vec<u8> {
    if f64_mode {
        bytes_of(&SpmvImm64 { n, xoff, alpha, beta, gamma }).to_vec()
    } else {
        bytes_of(&SpmvImm32 { n, xoff, alpha: alpha as f32, beta: beta as f32, gamma: gamma as f32 }).to_vec()
    }
}

/// stencil.wgsl: `n` rows on a grid of `dims`, α, β, γ.
pub fn stencil(f64_mode: bool, n: u32, dims: [usize; 3], alpha: f64, beta: f64, gamma: f64) -> Vec<u8> {
    let (nx, ny, nxy) = (dims[0] as u32, dims[1] as u32, (dims[0] * dims[1]) as u32);
    if f64_mode {
        bytes_of(&StencilImm64 { n, nx, ny, nxy, alpha, beta, gamma }).to_vec()
    } else {
        bytes_of(&StencilImm32 { n, nx, ny, nxy, alpha: alpha as f32, beta: beta as f32, gamma: gamma as f32 }).to_vec()
    }
}

/// multi.wgsl: `n` elements, `k` basis vectors, partial slot and count, eight coefficients.
pub fn multi(f64_mode: bool, n: u32, k: u32, slot: u32, npartials: u32, c: &[f64; 8]) -> Vec<u8> {
    let c0 = [c[0], c[1], c[2], c[3]];
    let c1 = [c[4], c[5], c[6], c[7]];
    if f64_mode {
        bytes_of(&MultiImm64 { n, k, slot, npartials, _pad: [0; 4], c0, c1 }).to_vec()
    } else {
        let f = |v: [f64; 4]| v.map(|x| x as f32);
        bytes_of(&MultiImm32 { n, k, slot, npartials, c0: f(c0), c1: f(c1) }).to_vec()
    }
}

/// spmm.wgsl: `n` rows, `k` columns, the grid `dims` (stencil layout; unused by CSR).
pub fn spmm(n: u32, k: u32, dims: [usize; 3]) -> Vec<u8> {
    bytes_of(&SpmmImm { n, k, nx: dims[0] as u32, ny: dims[1] as u32, nxy: (dims[0] * dims[1]) as u32, cnx: 0, cny: 0, cnxy: 0, m: 0, flags: 0 }).to_vec()
}

/// spmm.wgsl's transfer kernels: `n` output rows, `k` columns, the fine and coarse grids,
/// `m` elements of the input, the coarsened axes as bits.
pub fn transfer(n: u32, k: u32, fine: [usize; 3], coarse: [usize; 3], m: u32, flags: u32) -> Vec<u8> {
    let u = |v: usize| v as u32;
    bytes_of(&SpmmImm {
        n,
        k,
        nx: u(fine[0]),
        ny: u(fine[1]),
        nxy: u(fine[0] * fine[1]),
        cnx: u(coarse[0]),
        cny: u(coarse[1]),
        cnxy: u(coarse[0] * coarse[1]),
        m,
        flags,
    })
    .to_vec()
}

/// gram.wgsl: `n` elements, a tile of `kb` basis vectors × `kx` columns, the partial or
/// output slot, the partials per entry, the leading dimension of the output.
pub fn gram(n: u32, kb: u32, kx: u32, slot: u32, npartials: u32, ld: u32) -> Vec<u8> {
    bytes_of(&GramImm { n, kb, kx, slot, npartials, ld, tb: 0, stride: 0, t0: 0 }).to_vec()
}

/// gram.wgsl's gram_final: the `kb` × `kx` product into out[slot + r + c·ld] from the
/// partials of its tiles (`tb` basis groups per column group, `stride` elements apart),
/// tiles from `t0` on.
pub fn gram_final(kb: u32, kx: u32, slot: u32, npartials: u32, ld: u32, tb: u32, stride: u32, t0: u32) -> Vec<u8> {
    bytes_of(&GramImm { n: 0, kb, kx, slot, npartials, ld, tb, stride, t0 }).to_vec()
}

/// cg.wgsl: `n` elements, the scalar slots of the ratio, its sign.
pub fn cg(n: u32, num: u32, den: u32, sign: i32) -> Vec<u8> {
    bytes_of(&CgImm { n, num, den, sign }).to_vec()
}

#[cfg(test)]
mod tests {
    use super::super::shader::{shader_source, SHADER_BLOCK, SHADER_CG, SHADER_GRAM, SHADER_MULTI, SHADER_SPMM, SHADER_SPMV, SHADER_STENCIL, SHADER_VECTOR};
    use std::mem::{offset_of, size_of};
    use wgpu::naga;

    /// (size, member name → offset) of the shader's immediate struct, as naga lays it out.
    fn wgsl_layout(src: &str, f64_mode: bool) -> (usize, Vec<(String, usize)>) {
        let module = naga::front::wgsl::parse_str(&shader_source(src, f64_mode)).expect("shader parses");
        let imm = module.global_variables.iter().find(|(_, g)| g.space == naga::AddressSpace::Immediate).expect("an immediate variable").1;
        match &module.types[imm.ty].inner {
            naga::TypeInner::Struct { members, span } => {
                (*span as usize, members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect())
            }
            other => panic!("immediates are not a struct: {other:?}"),
        }
    }

    macro_rules! rust_layout {
        ($t:ty: $($f:ident),*) => {
            (size_of::<$t>(), vec![$((stringify!($f).to_string(), offset_of!($t, $f))),*])
        };
    }

    #[test]
    fn every_immediate_struct_matches_its_shader() {
        let cases = [
            (SHADER_VECTOR, false, rust_layout!(super::VectorImm32: n, alpha, beta, gamma)),
            (SHADER_VECTOR, true, rust_layout!(super::VectorImm64: n, alpha, beta, gamma)),
            (SHADER_SPMV, false, rust_layout!(super::SpmvImm32: n, xoff, alpha, beta, gamma)),
            (SHADER_SPMV, true, rust_layout!(super::SpmvImm64: n, xoff, alpha, beta, gamma)),
            (SHADER_STENCIL, false, rust_layout!(super::StencilImm32: n, nx, ny, nxy, alpha, beta, gamma)),
            (SHADER_STENCIL, true, rust_layout!(super::StencilImm64: n, nx, ny, nxy, alpha, beta, gamma)),
            (SHADER_MULTI, false, rust_layout!(super::MultiImm32: n, k, slot, npartials, c0, c1)),
            (SHADER_MULTI, true, rust_layout!(super::MultiImm64: n, k, slot, npartials, c0, c1)),
            (SHADER_BLOCK, false, rust_layout!(super::MultiImm32: n, k, slot, npartials, c0, c1)),
            (SHADER_BLOCK, true, rust_layout!(super::MultiImm64: n, k, slot, npartials, c0, c1)),
            (SHADER_SPMM, false, rust_layout!(super::SpmmImm: n, k, nx, ny, nxy, cnx, cny, cnxy, m, flags)),
            (SHADER_SPMM, true, rust_layout!(super::SpmmImm: n, k, nx, ny, nxy, cnx, cny, cnxy, m, flags)),
            (SHADER_GRAM, false, rust_layout!(super::GramImm: n, kb, kx, slot, npartials, ld, tb, stride, t0)),
            (SHADER_GRAM, true, rust_layout!(super::GramImm: n, kb, kx, slot, npartials, ld, tb, stride, t0)),
            (SHADER_CG, false, rust_layout!(super::CgImm: n, num, den, sign)),
            (SHADER_CG, true, rust_layout!(super::CgImm: n, num, den, sign)),
        ];
        for (src, f64_mode, rust) in cases {
            let wgsl = wgsl_layout(src, f64_mode);
            assert_eq!(rust, wgsl, "immediates (f64 {f64_mode}) of:\n{}", &src[..src.len().min(200)]);
        }
    }

    #[test]
    fn the_byte_builders_fill_every_field() {
        let b = super::multi(true, 5, 3, 2, 7, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let m: super::MultiImm64 = bytemuck::pod_read_unaligned(&b);
        assert_eq!((m.n, m.k, m.slot, m.npartials, m.c0, m.c1), (5, 3, 2, 7, [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]));
        let s: super::StencilImm32 = bytemuck::pod_read_unaligned(&super::stencil(false, 60, [3, 4, 5], 0.5, 0.25, 2.0));
        assert_eq!((s.n, s.nx, s.ny, s.nxy, s.alpha, s.beta, s.gamma), (60, 3, 4, 12, 0.5, 0.25, 2.0));
    }
}
