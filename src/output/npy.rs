//! NumPy `.npy` files (format version 1.0 on write; 1.0, 2.0 and 3.0 on read).
//!
//! Grid arrays in this crate are flat with x fastest (`i + nx*(j + ny*k)`), which is
//! exactly NumPy's Fortran order with `shape = (nx, ny, nz)`. Files are therefore
//! written with `fortran_order: True`, so that in NumPy `a[i, j, k]` is the value at
//! x-index `i`, y-index `j`, z-index `k`. C-order files are transposed on read.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
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
    header.extend(std::iter::repeat(' ').take(pad));
    header.push('\n');
    let hlen = u16::try_from(header.len()).map_err(|_| {
        QdError::Internal(format!("write_npy {}: header too long", path.display()))
    })?;

    let io_err = |e| QdError::io(format!("writing {}", path.display()), e);
    let file = File::create(path).map_err(io_err)?;
    let mut w = BufWriter::new(file);
    w.write_all(MAGIC).map_err(io_err)?;
    w.write_all(&[1u8, 0u8]).map_err(io_err)?;
    w.write_all(&hlen.to_le_bytes()).map_err(io_err)?;
    w.write_all(header.as_bytes()).map_err(io_err)?;
    let mut buf = Vec::with_capacity(data.len() * 8);
    for v in data {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    w.write_all(&buf).map_err(io_err)?;
    w.flush().map_err(io_err)?;
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

/// Reads a `.npy` file of dtype `<f8`, `>f8`, `<f4` or `>f4` (C or Fortran order).
/// Returns the shape and the data in the x-fastest (Fortran) flat layout, so that
/// `data[i + d0*(j + d1*k)]` is `a[i, j, k]`.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    let name = path.display().to_string();
    let bad = |reason: String| QdError::input(name.clone(), reason);
    let io_err = |e| QdError::io(format!("reading {}", path.display()), e);

    let file = File::open(path).map_err(io_err)?;
    let mut r = BufReader::new(file);
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes).map_err(io_err)?;

    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let major = bytes[6];
    let (hlen, hstart): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated .npy header".into()));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let hend = hstart
        .checked_add(hlen)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated .npy header".into()))?;
    let header = std::str::from_utf8(&bytes[hstart..hend])
        .map_err(|_| bad("header is not valid text".into()))?;

    let descr = dict_value(header, "descr").ok_or_else(|| bad("header lacks 'descr'".into()))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "<f8" => Dtype::F8Le,
        ">f8" => Dtype::F8Be,
        "<f4" => Dtype::F4Le,
        ">f4" => Dtype::F4Be,
        other => {
            return Err(bad(format!(
                "unsupported dtype '{other}' (expected '<f8', '>f8', '<f4' or '>f4')"
            )))
        }
    };
    let fortran = match dict_value(header, "fortran_order").map(str::trim) {
        Some("True") => true,
        Some("False") => false,
        Some(v) => return Err(bad(format!("bad fortran_order value '{v}'"))),
        None => return Err(bad("header lacks 'fortran_order'".into())),
    };
    let shape_s =
        dict_value(header, "shape").ok_or_else(|| bad("header lacks 'shape'".into()))?;
    let shape_s = shape_s.trim();
    if !(shape_s.starts_with('(') && shape_s.ends_with(')')) {
        return Err(bad(format!("bad shape '{shape_s}'")));
    }
    let mut dims = Vec::new();
    for part in shape_s[1..shape_s.len() - 1].split(',') {
        let p = part.trim().trim_end_matches('L');
        if p.is_empty() {
            continue;
        }
        dims.push(p.parse::<usize>().map_err(|_| bad(format!("bad shape '{shape_s}'")))?);
    }
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("shape too large".into()))?;
    let payload = &bytes[hend..];
    let expected = n.checked_mul(dtype.size()).ok_or_else(|| bad("shape too large".into()))?;
    if payload.len() != expected {
        return Err(bad(format!(
            "size mismatch: shape {:?} of {} needs {} data bytes, file has {}",
            dims,
            descr,
            expected,
            payload.len()
        )));
    }
    let raw: Vec<f64> = payload.chunks_exact(dtype.size()).map(|c| dtype.decode(c)).collect();
    if fortran || dims.len() <= 1 {
        return Ok((dims, raw));
    }
    Ok((dims.clone(), c_to_fortran(&dims, &raw)))
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
