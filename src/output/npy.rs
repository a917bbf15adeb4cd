//! NumPy `.npy` files (format version 1.0 on write; 1.0, 2.0 and 3.0 on read).
//!
//! Grid arrays in this crate are flat with x fastest (`i + nx*(j + ny*k)`), which is
//! exactly NumPy's Fortran order with `shape = (nx, ny, nz)`. Files are therefore
//! written with `fortran_order: True`, so that in NumPy `a[i, j, k]` is the value at
//! x-index `i`, y-index `j`, z-index `k`. C-order files are transposed on read.
//!
//! Why our own reader and not `npyz` (0.9) or `ndarray-npy` (0.10), evaluated in issue 12:
//! both allocate the header length the file declares (a u32 in versions 2/3: a 12-byte
//! file can ask for 4 GiB) before any check, and neither compares the file's length with
//! the declared shape before reading: `npyz` reads a stream and never looks for trailing
//! bytes; `ndarray-npy` allocates the declared shape's data first (a 100-byte file
//! declaring 10⁹ values asks for 8 GB), finds extra bytes only after reading it, and reads
//! `<f4` only into f32 arrays. Here the header is read with bounded reads
//! ([`MAX_NPY_HEADER`]) and the exact size is checked from the header alone ([`check_npy`],
//! at scene load), with messages that name the file and the check (tests/scene_input.rs).
//! Both crates would also add a Python-literal parser (`py_literal`, on `pest`), and
//! `ndarray-npy` `ndarray`, to a build that is already the bottleneck, for a writer of
//! 40 lines.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use crate::error::{QdError, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Writes `data` (x fastest, length = product of `dims`) as a little-endian `f8`
/// Fortran-ordered `.npy` file with `shape = dims`.
pub fn write_npy(path: &Path, dims: &[usize], data: &[f64]) -> Result<()> {
    let n: usize = dims.iter().product();
    if n != data.len() {
        return Err(QdError::Internal(format!(
            "write_npy {}: dims {:?} hold {} values but data has {}",
            path.display(),
            dims,
            n,
            data.len()
        )));
    }
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!(
            "({})",
            dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '<f8', 'fortran_order': True, 'shape': {shape}, }}");
    // magic (6) + version (2) + header length (2) + header, padded with spaces so that
    // the total is a multiple of 64, the last byte being '\n'.
    let unpadded = 10 + header.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    header.extend(std::iter::repeat_n(' ', pad));
    header.push('\n');
    let hlen = u16::try_from(header.len()).map_err(|_| {
        QdError::Internal(format!("write_npy {}: header too long", path.display()))
    })?;

    // the header, then the values a piece at a time (each piece converted in parallel):
    // a bounded buffer, not a copy of the file
    let mut buf = Vec::with_capacity((10 + header.len()).max(data.len().min(super::STREAM_PIECE) * 8));
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&[1u8, 0u8]);
    buf.extend_from_slice(&hlen.to_le_bytes());
    buf.extend_from_slice(header.as_bytes());
    let io_err = |e| QdError::io(format!("writing {}", path.display()), e);
    let mut file = File::create(path).map_err(io_err)?;
    file.write_all(&buf).map_err(io_err)?;
    for piece in data.chunks(super::STREAM_PIECE) {
        buf.clear();
        super::le_bytes_into(piece, &mut buf);
        file.write_all(&buf).map_err(io_err)?;
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Dtype {
    F8Le,
    F8Be,
    F4Le,
    F4Be,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F8Le | Dtype::F8Be => 8,
            Dtype::F4Le | Dtype::F4Be => 4,
        }
    }
    fn decode(self, b: &[u8]) -> f64 {
        match self {
            Dtype::F8Le => f64::from_le_bytes(b.try_into().unwrap()),
            Dtype::F8Be => f64::from_be_bytes(b.try_into().unwrap()),
            Dtype::F4Le => f32::from_le_bytes(b.try_into().unwrap()) as f64,
            Dtype::F4Be => f32::from_be_bytes(b.try_into().unwrap()) as f64,
        }
    }
}

/// Largest .npy header read, bytes (NumPy's own files have headers of 64 to a few hundred
/// bytes; version 2/3 headers may declare up to 4 GiB, which is never read).
pub const MAX_NPY_HEADER: usize = 1 << 20;

/// A parsed .npy header.
struct Header {
    dtype: Dtype,
    fortran: bool,
    dims: Vec<usize>,
    /// Offset of the first data byte.
    data_start: u64,
    /// Bytes of data the shape and dtype declare.
    data_len: u64,
}

/// Open `path` (a regular file) and read its header with bounded reads; check that the file
/// is exactly the header plus the declared data, and, with `expect`, that the declared shape
/// is `expect`. Nothing beyond the header is read. Errors are reasons (sentences).
fn open_npy(path: &Path, expect: Option<&[usize]>) -> std::result::Result<(File, Header), String> {
    let name = path.display();
    let (file, len) = super::files::open_regular(path, u64::MAX)?;
    if len == 0 {
        return Err(format!("{name} is empty (0 bytes), not a .npy file"));
    }
    let mut r = BufReader::new(file);
    let mut pre = [0u8; 10];
    let got = read_up_to(&mut r, &mut pre).map_err(|e| format!("cannot read {name}: {e}"))?;
    if got < 6 || &pre[..6] != MAGIC {
        return Err(format!("{name} is not a .npy file (it does not start with the NumPy magic \\x93NUMPY)"));
    }
    if got < 10 {
        return Err(format!("{name}: truncated .npy header ({len} bytes in all)"));
    }
    let major = pre[6];
    let (hlen, hstart): (usize, u64) = match major {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as usize, 10),
        2 | 3 => {
            let mut two = [0u8; 2];
            if read_up_to(&mut r, &mut two).map_err(|e| format!("cannot read {name}: {e}"))? < 2 {
                return Err(format!("{name}: truncated .npy header ({len} bytes in all)"));
            }
            (u32::from_le_bytes([pre[8], pre[9], two[0], two[1]]) as usize, 12)
        }
        v => return Err(format!("{name}: unsupported .npy format version {v} (1, 2 and 3 are read)")),
    };
    if hlen > MAX_NPY_HEADER {
        return Err(format!("{name}: the .npy header declares {hlen} bytes, more than the {MAX_NPY_HEADER} read"));
    }
    if hstart + hlen as u64 > len {
        return Err(format!("{name}: truncated .npy header (it declares {hlen} bytes, the file has {len} bytes in all)"));
    }
    let mut hbytes = vec![0u8; hlen];
    if read_up_to(&mut r, &mut hbytes).map_err(|e| format!("cannot read {name}: {e}"))? < hlen {
        return Err(format!("{name}: truncated .npy header"));
    }
    let header = std::str::from_utf8(&hbytes).map_err(|_| format!("{name}: the .npy header is not valid text"))?;

    let descr = dict_value(header, "descr").ok_or_else(|| format!("{name}: the .npy header lacks 'descr'"))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "<f8" => Dtype::F8Le,
        ">f8" => Dtype::F8Be,
        "<f4" => Dtype::F4Le,
        ">f4" => Dtype::F4Be,
        other => return Err(format!("{name}: unsupported dtype '{other}' (expected '<f8', '>f8', '<f4' or '>f4')")),
    };
    let fortran = match dict_value(header, "fortran_order").map(str::trim) {
        Some("True") => true,
        Some("False") => false,
        Some(v) => return Err(format!("{name}: bad fortran_order value '{v}' in the .npy header")),
        None => return Err(format!("{name}: the .npy header lacks 'fortran_order'")),
    };
    let shape_s = dict_value(header, "shape").ok_or_else(|| format!("{name}: the .npy header lacks 'shape'"))?;
    let shape_s = shape_s.trim();
    if !(shape_s.starts_with('(') && shape_s.ends_with(')')) {
        return Err(format!("{name}: bad shape '{shape_s}' in the .npy header"));
    }
    let mut dims = Vec::new();
    for part in shape_s[1..shape_s.len() - 1].split(',') {
        let p = part.trim().trim_end_matches('L');
        if p.is_empty() {
            continue;
        }
        dims.push(p.parse::<usize>().map_err(|_| format!("{name}: bad shape '{shape_s}' in the .npy header"))?);
    }
    if let Some(want) = expect {
        if dims != want {
            return Err(format!("{name} has shape {dims:?} but the grid has {want:?} cells (x, y, z order)"));
        }
    }
    let too_large = || format!("{name}: the shape {dims:?} in the .npy header is too large");
    let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).ok_or_else(too_large)?;
    let data_len = n.checked_mul(dtype.size() as u64).ok_or_else(too_large)?;
    let data_start = hstart + hlen as u64;
    if len - data_start != data_len {
        return Err(format!(
            "{name}: size mismatch: shape {dims:?} of {descr} needs {data_len} data bytes after the {data_start}-byte header, the file has {}",
            len - data_start
        ));
    }
    Ok((r.into_inner(), Header { dtype, fortran, dims, data_start, data_len }))
}

/// Read until `buf` is full or the end of the file; the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Read the data of an opened .npy file: exactly `data_len` bytes, and then the end of the
/// file (a file that grew since it was checked is refused).
fn read_data(path: &Path, file: File, h: &Header) -> std::result::Result<Vec<f64>, String> {
    use std::io::{Seek, SeekFrom};
    let name = path.display();
    let mut file = file;
    file.seek(SeekFrom::Start(h.data_start)).map_err(|e| format!("cannot read {name}: {e}"))?;
    let want = usize::try_from(h.data_len).map_err(|_| format!("{name}: too large for this machine"))?;
    let mut payload = Vec::with_capacity(want);
    (&mut file).take(h.data_len + 1).read_to_end(&mut payload).map_err(|e| format!("cannot read {name}: {e}"))?;
    if payload.len() != want {
        return Err(format!("{name} changed while it was read ({} data bytes, {want} expected)", payload.len()));
    }
    let raw: Vec<f64> = payload.chunks_exact(h.dtype.size()).map(|c| h.dtype.decode(c)).collect();
    if h.fortran || h.dims.len() <= 1 {
        return Ok(raw);
    }
    Ok(c_to_fortran(&h.dims, &raw))
}

/// Check that `path` is a .npy file of dtype `<f8`, `>f8`, `<f4` or `>f4` with shape `dims`
/// and exactly the bytes that shape needs, reading only its header. The error is a reason.
pub fn check_npy(path: &Path, dims: &[usize]) -> std::result::Result<(), String> {
    let _ = open_npy(path, Some(dims))?;
    Ok(())
}

/// Read a .npy file that must have shape `dims` (x fastest, as [`read_npy`]). The shape and
/// the file's length are checked from the header before the data is read. The error is a
/// reason naming the file.
pub fn read_npy_shaped(path: &Path, dims: &[usize]) -> std::result::Result<Vec<f64>, String> {
    let (file, h) = open_npy(path, Some(dims))?;
    read_data(path, file, &h)
}

/// Reads a `.npy` file of dtype `<f8`, `>f8`, `<f4` or `>f4` (C or Fortran order).
/// Returns the shape and the data in the x-fastest (Fortran) flat layout, so that
/// `data[i + d0*(j + d1*k)]` is `a[i, j, k]`. The file must be a regular file of exactly
/// the header plus the declared data; the header is read with bounded reads first.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let bad = |reason: String| QdError::input(path.display().to_string(), reason);
    let (file, h) = open_npy(path, None).map_err(bad)?;
    let data = read_data(path, file, &h).map_err(bad)?;
    Ok((h.dims, data))
}

/// Reorders a C-order (last index fastest) array into Fortran order (first fastest).
fn c_to_fortran(dims: &[usize], c: &[f64]) -> Vec<f64> {
    let nd = dims.len();
    // C strides: stride[nd-1] = 1, stride[a] = stride[a+1]*dims[a+1].
    let mut cstride = vec![1usize; nd];
    for a in (0..nd.saturating_sub(1)).rev() {
        cstride[a] = cstride[a + 1] * dims[a + 1];
    }
    let mut out = Vec::with_capacity(c.len());
    let mut idx = vec![0usize; nd];
    for _ in 0..c.len() {
        let ci: usize = idx.iter().zip(&cstride).map(|(i, s)| i * s).sum();
        out.push(c[ci]);
        // Increment the multi-index, first axis fastest.
        for a in 0..nd {
            idx[a] += 1;
            if idx[a] < dims[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// The raw text of `'key': value` in a Python dict literal (value ends at the next
/// top-level comma or closing brace).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[pos + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("qdsim-npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    #[test]
    fn parallel_conversion_gives_the_serial_bytes() {
        // around the conversion's piece length (32768 values) and the streamed write's
        // (3·2²⁰ values), with a NaN and signed zeros
        let s = crate::output::STREAM_PIECE;
        for n in [1usize, 32_767, 32_768, 32_769, 3 * 32_768 + 5, s, s + 1, 2 * s + 7] {
            let mut data: Vec<f64> = (0..n).map(|i| (i as f64 * 0.01).cos() * 1e300f64.powf((i % 3) as f64 - 1.0)).collect();
            data[n / 2] = f64::NAN;
            data[0] = -0.0;
            let p = tmp(&format!("par{n}.npy"));
            write_npy(&p, &[n], &data).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            let header = format!("{{'descr': '<f8', 'fortran_order': True, 'shape': ({n},), }}");
            assert_eq!(&bytes[..6], MAGIC);
            assert_eq!(&bytes[6..8], &[1, 0]);
            assert_eq!(std::str::from_utf8(&bytes[10..10 + hlen]).unwrap().trim_end(), header);
            let serial: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert!(bytes[10 + hlen..] == serial[..], "n = {n}");
        }
    }

    #[test]
    fn round_trip_1d_2d_3d() {
        for dims in [vec![7usize], vec![3, 4], vec![2, 3, 5]] {
            let n: usize = dims.iter().product();
            let data: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 1.0).collect();
            let p = tmp(&format!("rt{}.npy", dims.len()));
            write_npy(&p, &dims, &data).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!((10 + hlen) % 64, 0);
            assert_eq!(bytes[10 + hlen - 1], b'\n');
            assert!(std::str::from_utf8(&bytes[10..10 + hlen]).unwrap().contains("True"));
            let (d2, v2) = read_npy(&p).unwrap();
            assert_eq!(d2, dims);
            assert_eq!(v2, data);
        }
    }

    #[test]
    fn reads_c_order_f4_and_big_endian() {
        // a = np.arange(6).reshape(2, 3) in C order: a[i, j] = 3*i + j.
        let write = |descr: &str, be: bool, f4: bool, name: &str| {
            let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2, 3), }}");
            while (10 + h.len() + 1) % 64 != 0 {
                h.push(' ');
            }
            h.push('\n');
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&[1, 0]);
            b.extend_from_slice(&(h.len() as u16).to_le_bytes());
            b.extend_from_slice(h.as_bytes());
            for v in 0..6 {
                match (f4, be) {
                    (false, false) => b.extend_from_slice(&(v as f64).to_le_bytes()),
                    (false, true) => b.extend_from_slice(&(v as f64).to_be_bytes()),
                    (true, false) => b.extend_from_slice(&(v as f32).to_le_bytes()),
                    (true, true) => b.extend_from_slice(&(v as f32).to_be_bytes()),
                }
            }
            let p = tmp(name);
            std::fs::write(&p, b).unwrap();
            p
        };
        for (descr, be, f4) in [("<f8", false, false), (">f8", true, false), ("<f4", false, true), (">f4", true, true)] {
            let p = write(descr, be, f4, &format!("c_{}.npy", descr.replace(['<', '>'], "x")));
            let (dims, v) = read_npy(&p).unwrap();
            assert_eq!(dims, vec![2, 3]);
            // x-fastest: v[i + 2*j] = a[i, j] = 3*i + j
            for i in 0..2 {
                for j in 0..3 {
                    assert_eq!(v[i + 2 * j], (3 * i + j) as f64, "{descr}");
                }
            }
        }
    }

    #[test]
    fn c_order_3d_transpose() {
        let dims = [2usize, 3, 4];
        let c: Vec<f64> = (0..24).map(|x| x as f64).collect(); // a[i,j,k] = 12i + 4j + k
        let f = c_to_fortran(&dims, &c);
        for k in 0..4 {
            for j in 0..3 {
                for i in 0..2 {
                    assert_eq!(f[i + 2 * (j + 3 * k)], (12 * i + 4 * j + k) as f64);
                }
            }
        }
    }

    #[test]
    fn malformed_files_are_input_errors() {
        let p = tmp("bad_magic.npy");
        std::fs::write(&p, b"hello world, not numpy").unwrap();
        let e = read_npy(&p).unwrap_err();
        assert!(matches!(&e, QdError::Input { reason, path } if reason.contains("magic") && path.contains("bad_magic")));

        let p = tmp("short.npy");
        write_npy(&p, &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let mut b = std::fs::read(&p).unwrap();
        b.truncate(b.len() - 8);
        std::fs::write(&p, &b).unwrap();
        let e = read_npy(&p).unwrap_err();
        assert!(matches!(&e, QdError::Input { reason, .. } if reason.contains("size mismatch")), "{e}");

        let p = tmp("int.npy");
        let mut h = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }".to_string();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(&7i64.to_le_bytes());
        std::fs::write(&p, &b).unwrap();
        let e = read_npy(&p).unwrap_err();
        assert!(matches!(&e, QdError::Input { reason, .. } if reason.contains("unsupported dtype")), "{e}");
    }

    #[test]
    fn write_rejects_wrong_length() {
        assert!(write_npy(&tmp("wrong.npy"), &[2, 2], &[1.0]).is_err());
    }
}
