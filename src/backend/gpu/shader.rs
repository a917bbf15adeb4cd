//! The WGSL kernel files (shaders/*.wgsl, embedded in the binary) and how one becomes a
//! module: the precision line `alias real = f32;` (or `f64`), the shared prelude
//! (shaders/prelude.wgsl: the workgroup size `WG` and the index helper `global_index`),
//! then the file. The files name the float type only as `real`, so the f64 kernels are
//! the same text under another alias, not a textual replacement.

/// Definitions every kernel file shares.
pub const PRELUDE: &str = include_str!("../../../shaders/prelude.wgsl");
/// Element-wise vector kernels.
pub const SHADER_VECTOR: &str = include_str!("../../../shaders/vector.wgsl");
/// CSR products.
pub const SHADER_SPMV: &str = include_str!("../../../shaders/spmv.wgsl");
/// Batched dot products and axpys over up to eight basis vectors.
pub const SHADER_MULTI: &str = include_str!("../../../shaders/multi.wgsl");
/// CG updates with device-resident step lengths.
pub const SHADER_CG: &str = include_str!("../../../shaders/cg.wgsl");
/// Products in the stencil layout.
pub const SHADER_STENCIL: &str = include_str!("../../../shaders/stencil.wgsl");
/// Element-wise kernels and column dot products over a block of up to eight vectors.
pub const SHADER_BLOCK: &str = include_str!("../../../shaders/block.wgsl");
/// Products of a block of up to eight vectors (SpMM), stencil layout and CSR.
pub const SHADER_SPMM: &str = include_str!("../../../shaders/spmm.wgsl");
/// Tall-skinny products XᵀY in tiles of 8 × 4 (block Gram matrices).
pub const SHADER_GRAM: &str = include_str!("../../../shaders/gram.wgsl");
/// Every kernel file with its name (for validation).
pub const SHADERS: [(&str, &str); 8] = [
    ("vector.wgsl", SHADER_VECTOR),
    ("spmv.wgsl", SHADER_SPMV),
    ("multi.wgsl", SHADER_MULTI),
    ("cg.wgsl", SHADER_CG),
    ("stencil.wgsl", SHADER_STENCIL),
    ("block.wgsl", SHADER_BLOCK),
    ("spmm.wgsl", SHADER_SPMM),
    ("gram.wgsl", SHADER_GRAM),
];

/// The module text of kernel file `src` in the working precision: the alias of `real`,
/// the prelude, the file.
pub fn shader_source(src: &str, f64_mode: bool) -> String {
    let real = if f64_mode { "f64" } else { "f32" };
    format!("alias real = {real};\n{PRELUDE}\n{src}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shader_parses_and_validates_with_naga() {
        use wgpu::naga::valid::{Capabilities, ValidationFlags, Validator};
        for (name, src) in SHADERS {
            for f64_mode in [false, true] {
                let src = shader_source(src, f64_mode);
                let src = src.as_str();
                let module = wgpu::naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name} (f64 {f64_mode}): {}", e.emit_to_string(src)));
                let caps = if f64_mode { Capabilities::IMMEDIATES | Capabilities::FLOAT64 } else { Capabilities::IMMEDIATES };
                Validator::new(ValidationFlags::all(), caps)
                    .validate(&module)
                    .unwrap_or_else(|e| panic!("{name} (f64 {f64_mode}): {}", e.emit_to_string(src)));
            }
        }
    }

    #[test]
    fn the_files_name_the_float_type_only_through_the_prelude_alias() {
        for (name, src) in SHADERS {
            assert!(!src.contains("f32") && !src.contains("f64"), "{name} names a float type; use `real`");
            assert!(!src.contains("256"), "{name} spells the workgroup size; use WG");
        }
    }
}
