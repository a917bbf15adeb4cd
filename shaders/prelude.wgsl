// The prelude of every kernel file: src/backend/gpu/shader.rs compiles each file as
//   `alias real = f32;` (or f64, the working precision) + this prelude + the file,
// so the shared definitions live here once and the files never name the float type.
//
// real:         the float type of vectors, matrix values and float immediates.
// WG:           threads per workgroup; every kernel is `@workgroup_size(WG)` and the host
//               reads the size back from the shader (naga reflection) to size its grids.
// global_index: the element of a thread on the 2D dispatch grid the host uses, so vectors
//               longer than 65535 · WG elements work: gid.x + gid.y · (num_workgroups.x · WG).

const WG: u32 = 256u;

fn global_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}
