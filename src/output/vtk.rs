//! VTK XML ImageData (`.vti`) files for ParaView / VisIt, and RectilinearGrid (`.vtr`)
//! files for graded grids (the same cell arrays, with the node coordinates of each axis
//! as `Float64` arrays instead of an origin and a spacing).
//!
//! Each field is one `CellData` array of `Float64`, inline base64 `binary` format
//! with a `UInt64` byte-count header. The grid's `nx*ny*nz` values are cells, so the
//! `WholeExtent` is `0 nx 0 ny 0 nz` in points (n+1 points per axis); a 1D or 2D
//! grid passes 1 for the absent axes, which gives extent `0 1` there (one cell thick)
//! so ParaView still shows cells.
//!
//! Kept rather than `vtkio` (issue 12): its current release is a release candidate
//! (0.7.0-rc2), its default features bring compression libraries with C parts (xz2, lz4),
//! and one uniform-grid writer of cell arrays is all the program needs.

use std::fs::File;
use std::io::Write;

use rayon::prelude::*;
use std::path::Path;

use crate::error::{QdError, Result};

/// Writes a `.vti` file. `dims` = `[nx, ny, nz]` cells (use 1 for absent axes),
/// `origin_nm` = lower corner of the grid, `spacing_nm` = cell size per axis.
/// Every field has `nx*ny*nz` values, x fastest (`i + nx*(j + ny*k)`), which is
/// VTK's own ordering.
pub fn write_vti(
    path: &Path,
    dims: [usize; 3],
    origin_nm: [f64; 3],
    spacing_nm: [f64; 3],
    fields: &[(&str, &[f64])],
) -> Result<()> {
    let n: usize = dims.iter().product();
    if dims.contains(&0) {
        return Err(QdError::Internal(format!(
            "write_vti {}: empty grid {:?}",
            path.display(),
            dims
        )));
    }
    for (name, data) in fields {
        if data.len() != n {
            return Err(QdError::Internal(format!(
                "write_vti {}: field '{}' has {} values, grid {:?} has {} cells",
                path.display(),
                name,
                data.len(),
                dims,
                n
            )));
        }
    }
    let [nx, ny, nz] = dims;
    let extent = format!("0 {nx} 0 {ny} 0 {nz}");
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\"?>\n");
    s.push_str(
        "<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n",
    );
    s.push_str(&format!(
        "  <ImageData WholeExtent=\"{extent}\" Origin=\"{} {} {}\" Spacing=\"{} {} {}\">\n",
        fmt_f(origin_nm[0]),
        fmt_f(origin_nm[1]),
        fmt_f(origin_nm[2]),
        fmt_f(spacing_nm[0]),
        fmt_f(spacing_nm[1]),
        fmt_f(spacing_nm[2]),
    ));
    s.push_str(&format!("    <Piece Extent=\"{extent}\">\n"));
    cell_data_open(&mut s, fields);
    let tail = "      </CellData>\n    </Piece>\n  </ImageData>\n</VTKFile>\n";
    write_streamed(path, |w, buf| {
        w.write_all(s.as_bytes())?;
        write_arrays(w, fields, buf)?;
        w.write_all(tail.as_bytes())
    })
}

/// Writes a `.vtr` (RectilinearGrid) file: `dims` = `[nx, ny, nz]` cells, `nodes_nm[a]`
/// the `dims[a] + 1` cell boundaries of axis a (absent axes: `[0, 1]`), fields as in
/// [`write_vti`].
pub fn write_vtr(path: &Path, dims: [usize; 3], nodes_nm: &[Vec<f64>; 3], fields: &[(&str, &[f64])]) -> Result<()> {
    let n: usize = dims.iter().product();
    if dims.contains(&0) || (0..3).any(|a| nodes_nm[a].len() != dims[a] + 1) {
        return Err(QdError::Internal(format!("write_vtr {}: grid {:?} with node lists of {:?}", path.display(), dims, nodes_nm.iter().map(|x| x.len()).collect::<Vec<_>>())));
    }
    if let Some((name, data)) = fields.iter().find(|f| f.1.len() != n) {
        return Err(QdError::Internal(format!("write_vtr {}: field '{}' has {} values, grid {:?} has {} cells", path.display(), name, data.len(), dims, n)));
    }
    let [nx, ny, nz] = dims;
    let extent = format!("0 {nx} 0 {ny} 0 {nz}");
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\"?>\n");
    s.push_str("<VTKFile type=\"RectilinearGrid\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n");
    s.push_str(&format!("  <RectilinearGrid WholeExtent=\"{extent}\">\n"));
    s.push_str(&format!("    <Piece Extent=\"{extent}\">\n"));
    cell_data_open(&mut s, fields);
    let coords: Vec<(&str, &[f64])> = ["x_nm", "y_nm", "z_nm"].iter().zip(nodes_nm.iter()).map(|(n, x)| (*n, x.as_slice())).collect();
    let middle = "      </CellData>\n      <Coordinates>\n";
    let tail = "      </Coordinates>\n    </Piece>\n  </RectilinearGrid>\n</VTKFile>\n";
    write_streamed(path, |w, buf| {
        w.write_all(s.as_bytes())?;
        write_arrays(w, fields, buf)?;
        w.write_all(middle.as_bytes())?;
        write_arrays(w, &coords, buf)?;
        w.write_all(tail.as_bytes())
    })
}

/// The PointData (empty) block of a piece and the opening of its CellData.
fn cell_data_open(s: &mut String, fields: &[(&str, &[f64])]) {
    s.push_str("      <PointData>\n      </PointData>\n");
    match fields.first() {
        Some((first, _)) => s.push_str(&format!("      <CellData Scalars=\"{}\">\n", xml_escape(first))),
        None => s.push_str("      <CellData>\n"),
    }
}

/// The buffers a streamed write reuses from piece to piece: raw bytes and their base64.
#[derive(Default)]
struct PieceBuffers {
    raw: Vec<u8>,
    b64: Vec<u8>,
}

/// Each field's `DataArray` element, in order, each streamed a piece at a time
/// ([`write_base64_stream`]): a bounded buffer per file, whatever the grid.
fn write_arrays(w: &mut impl Write, fields: &[(&str, &[f64])], buf: &mut PieceBuffers) -> std::io::Result<()> {
    for (name, data) in fields {
        let (lo, hi) = finite_range(data);
        let head = format!(
            "        <DataArray type=\"Float64\" Name=\"{}\" NumberOfComponents=\"1\" format=\"binary\" RangeMin=\"{}\" RangeMax=\"{}\">\n          ",
            xml_escape(name),
            fmt_f(lo),
            fmt_f(hi)
        );
        w.write_all(head.as_bytes())?;
        write_base64_stream(w, data, super::STREAM_PIECE, buf)?;
        w.write_all(b"\n        </DataArray>\n")?;
    }
    Ok(())
}

/// The base64 of `data`'s `UInt64` byte count followed by its little-endian values,
/// written `piece` values at a time (converted and encoded in parallel within a piece).
/// The first piece carries the 8-byte count and `piece − 1` values, so every piece but the
/// last is a multiple of 3 bytes (with `piece` one) and the pieces' encodings join into
/// the encoding of the whole.
fn write_base64_stream(w: &mut impl Write, data: &[f64], piece: usize, buf: &mut PieceBuffers) -> std::io::Result<()> {
    debug_assert!(piece >= 3 && piece.is_multiple_of(3));
    let first = data.len().min(piece - 1);
    buf.raw.clear();
    buf.raw.extend_from_slice(&((8 * data.len()) as u64).to_le_bytes());
    super::le_bytes_into(&data[..first], &mut buf.raw);
    let mut rest = data[first..].chunks(piece);
    loop {
        buf.b64.clear();
        base64_encode_par(&buf.raw, &mut buf.b64);
        w.write_all(&buf.b64)?;
        match rest.next() {
            Some(values) => {
                buf.raw.clear();
                super::le_bytes_into(values, &mut buf.raw);
            }
            None => return Ok(()),
        }
    }
}

/// Create `path` and write it through `body` (buffered: small pieces of XML between the
/// streamed arrays).
fn write_streamed(path: &Path, body: impl FnOnce(&mut std::io::BufWriter<File>, &mut PieceBuffers) -> std::io::Result<()>) -> Result<()> {
    let io_err = |e| QdError::io(format!("writing {}", path.display()), e);
    let mut w = std::io::BufWriter::new(File::create(path).map_err(io_err)?);
    body(&mut w, &mut PieceBuffers::default()).map_err(io_err)?;
    w.flush().map_err(io_err)
}

fn finite_range(data: &[f64]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &v in data.iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (0.0, 0.0)
    } else {
        (lo, hi)
    }
}

/// Shortest round-trip text of a float, finite values only (non-finite give 0).
fn fmt_f(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else {
        "0".into()
    }
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with `=` padding).
#[cfg(test)]
fn base64_encode_into(bytes: &[u8], out: &mut String) {
    let mut b = Vec::new();
    base64_encode_bytes(bytes, &mut b);
    out.push_str(std::str::from_utf8(&b).expect("base64 is ASCII"));
}

/// Input bytes per rayon task of [`base64_encode_par`] (a multiple of 3, so each piece
/// encodes to whole quadruples and the pieces join into the serial encoding).
const B64_PIECE: usize = 3 << 16;

/// [`base64_encode_bytes`] in parallel pieces: the same bytes.
fn base64_encode_par(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    out[start..].par_chunks_mut(B64_PIECE / 3 * 4).zip(bytes.par_chunks(B64_PIECE)).for_each(|(o, i)| encode_exact(i, o));
}

/// Standard base64 (RFC 4648, with `=` padding), appended to `out`.
#[cfg(test)]
fn base64_encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    encode_exact(bytes, &mut out[start..]);
}

/// Encodes `bytes` into `out`, which holds exactly `4 * ceil(len / 3)` bytes.
fn encode_exact(bytes: &[u8], out: &mut [u8]) {
    for (chunk, o) in bytes.chunks(3).zip(out.chunks_exact_mut(4)) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        o[0] = B64[(n >> 18) as usize & 63];
        o[1] = B64[(n >> 12) as usize & 63];
        o[2] = if chunk.len() > 1 { B64[(n >> 6) as usize & 63] } else { b'=' };
        o[3] = if chunk.len() > 2 { B64[n as usize & 63] } else { b'=' };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| B64.iter().position(|&x| x == c).unwrap() as u32;
        let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        let mut out = Vec::new();
        for q in clean.chunks(4) {
            let pad = q.iter().filter(|&&c| c == b'=').count();
            let mut n = 0u32;
            for &c in q {
                n = (n << 6) | if c == b'=' { 0 } else { val(c) };
            }
            let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&b[..3 - pad]);
        }
        out
    }

    /// The serial writer this file had before the parallel one (issue 13), kept as the
    /// reference the parallel writer must match byte for byte.
    fn serial_vti(dims: [usize; 3], origin: [f64; 3], spacing: [f64; 3], fields: &[(&str, &[f64])]) -> Vec<u8> {
        let [nx, ny, nz] = dims;
        let extent = format!("0 {nx} 0 {ny} 0 {nz}");
        let mut s = String::new();
        s.push_str("<?xml version=\"1.0\"?>\n");
        s.push_str("<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n");
        s.push_str(&format!(
            "  <ImageData WholeExtent=\"{extent}\" Origin=\"{} {} {}\" Spacing=\"{} {} {}\">\n",
            fmt_f(origin[0]),
            fmt_f(origin[1]),
            fmt_f(origin[2]),
            fmt_f(spacing[0]),
            fmt_f(spacing[1]),
            fmt_f(spacing[2]),
        ));
        s.push_str(&format!("    <Piece Extent=\"{extent}\">\n"));
        s.push_str("      <PointData>\n      </PointData>\n");
        match fields.first() {
            Some((first, _)) => s.push_str(&format!("      <CellData Scalars=\"{}\">\n", xml_escape(first))),
            None => s.push_str("      <CellData>\n"),
        }
        for (name, data) in fields {
            let (lo, hi) = finite_range(data);
            s.push_str(&format!(
                "        <DataArray type=\"Float64\" Name=\"{}\" NumberOfComponents=\"1\" format=\"binary\" RangeMin=\"{}\" RangeMax=\"{}\">\n          ",
                xml_escape(name),
                fmt_f(lo),
                fmt_f(hi)
            ));
            let mut raw = Vec::new();
            raw.extend_from_slice(&((8 * data.len()) as u64).to_le_bytes());
            for v in data.iter() {
                raw.extend_from_slice(&v.to_le_bytes());
            }
            base64_encode_into(&raw, &mut s);
            s.push_str("\n        </DataArray>\n");
        }
        s.push_str("      </CellData>\n    </Piece>\n  </ImageData>\n</VTKFile>\n");
        s.into_bytes()
    }

    #[test]
    fn parallel_writer_gives_the_serial_bytes() {
        // piece edges of the base64 and of the conversion: arrays of a few pieces, with
        // every remainder modulo 3 of the encoded length
        let dir = std::env::temp_dir().join(format!("qdsim-vti-par-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in [1usize, 7, 24_576, 24_577, 24_578, 65_536 + 3, 3 * 32_768 + 1] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 1e-3).collect();
            let mut b: Vec<f64> = (0..n).map(|i| i as f64 - 3.5).collect();
            b[n / 2] = f64::INFINITY;
            let fields: [(&str, &[f64]); 3] = [("a", &a), ("b&c", &b), ("a2", &a)];
            let p = dir.join(format!("p{n}.vti"));
            write_vti(&p, [n, 1, 1], [0.25, -1.0, 0.0], [0.5, 1.0, 1.0], &fields).unwrap();
            assert!(std::fs::read(&p).unwrap() == serial_vti([n, 1, 1], [0.25, -1.0, 0.0], [0.5, 1.0, 1.0], &fields), "n = {n}");
        }
        for len in [0usize, 1, 2, 3, B64_PIECE - 1, B64_PIECE, B64_PIECE + 1, 2 * B64_PIECE + 2] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let (mut par, mut ser) = (b"x".to_vec(), b"x".to_vec());
            base64_encode_par(&bytes, &mut par);
            base64_encode_bytes(&bytes, &mut ser);
            assert!(par == ser, "len = {len}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pieces_of_a_stream_join_into_the_whole_encoding() {
        for n in 0..20usize {
            let data: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() - 0.5).collect();
            let mut raw = ((8 * n) as u64).to_le_bytes().to_vec();
            for v in &data {
                raw.extend_from_slice(&v.to_le_bytes());
            }
            let mut whole = Vec::new();
            base64_encode_bytes(&raw, &mut whole);
            for piece in [3, 6, 9, 3 << 20] {
                let mut out = Vec::new();
                write_base64_stream(&mut out, &data, piece, &mut PieceBuffers::default()).unwrap();
                assert_eq!(out, whole, "{n} values in pieces of {piece}");
            }
        }
    }

    #[test]
    fn base64_known_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            let mut s = String::new();
            base64_encode_into(i.as_bytes(), &mut s);
            assert_eq!(s, o);
            assert_eq!(b64_decode(&s), i.as_bytes());
        }
    }

    fn attr<'a>(xml: &'a str, tag: &str, name: &str) -> &'a str {
        let t = &xml[xml.find(&format!("<{tag} ")).unwrap()..];
        let t = &t[..t.find('>').unwrap()];
        let a = &t[t.find(&format!("{name}=\"")).unwrap() + name.len() + 2..];
        &a[..a.find('"').unwrap()]
    }

    #[test]
    fn writes_parsable_vti() {
        let dir = std::env::temp_dir().join(format!("qdsim-vti-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for dims in [[5usize, 1, 1], [4, 3, 1], [3, 4, 5]] {
            let n = dims[0] * dims[1] * dims[2];
            let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let mut b: Vec<f64> = (0..n).map(|i| -(i as f64) * 0.25).collect();
            b[0] = f64::NAN;
            let p = dir.join(format!("t{}.vti", n));
            write_vti(&p, dims, [-10.0, -5.0, 0.0], [0.5, 1.0, 2.0], &[("potential", &a), ("psi<0>", &b)])
                .unwrap();
            let xml = std::fs::read_to_string(&p).unwrap();
            let ext = format!("0 {} 0 {} 0 {}", dims[0], dims[1], dims[2]);
            assert_eq!(attr(&xml, "ImageData", "WholeExtent"), ext);
            assert_eq!(attr(&xml, "Piece", "Extent"), ext);
            assert_eq!(attr(&xml, "ImageData", "Origin"), "-10.0 -5.0 0.0");
            assert_eq!(attr(&xml, "ImageData", "Spacing"), "0.5 1.0 2.0");
            assert!(xml.contains("Name=\"psi&lt;0&gt;\""));
            let mut arrays = Vec::new();
            let mut rest = xml.as_str();
            while let Some(i) = rest.find("<DataArray ") {
                let body = &rest[i..];
                let start = body.find('>').unwrap() + 1;
                let end = body.find("</DataArray>").unwrap();
                arrays.push(b64_decode(&body[start..end]));
                rest = &body[end..];
            }
            assert_eq!(arrays.len(), 2);
            for (bytes, want) in arrays.iter().zip([&a, &b]) {
                let count = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
                assert_eq!(count, 8 * n);
                assert_eq!(bytes.len(), 8 + 8 * n);
                let vals: Vec<f64> =
                    bytes[8..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
                for (x, y) in vals.iter().zip(want.iter()) {
                    assert!(x == y || (x.is_nan() && y.is_nan()));
                }
            }
        }
    }

    #[test]
    fn writes_parsable_vtr_with_its_coordinates() {
        let p = std::env::temp_dir().join(format!("qdsim-vtr-test-{}.vtr", std::process::id()));
        let nodes = [vec![-2.0, -0.5, 0.0, 0.5, 2.0], vec![-1.0, 0.0, 1.0], vec![0.0, 1.0]];
        let a: Vec<f64> = (0..8).map(|i| i as f64 * 0.5).collect();
        write_vtr(&p, [4, 2, 1], &nodes, &[("band_edge", &a)]).unwrap();
        let xml = std::fs::read_to_string(&p).unwrap();
        assert!(xml.contains("<VTKFile type=\"RectilinearGrid\""));
        assert_eq!(attr(&xml, "RectilinearGrid", "WholeExtent"), "0 4 0 2 0 1");
        // the cell array, then the x, y, z coordinates, in this order
        let mut arrays = Vec::new();
        let mut rest = xml.as_str();
        while let Some(i) = rest.find("<DataArray ") {
            let body = &rest[i..];
            let start = body.find('>').unwrap() + 1;
            let end = body.find("</DataArray>").unwrap();
            let bytes = b64_decode(&body[start..end]);
            arrays.push(bytes[8..].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect::<Vec<f64>>());
            rest = &body[end..];
        }
        assert_eq!(arrays, vec![a.clone(), nodes[0].clone(), nodes[1].clone(), nodes[2].clone()]);
        assert!(xml.find("<CellData").unwrap() < xml.find("<Coordinates>").unwrap());
        // node lists of the wrong length are refused
        assert!(write_vtr(&p, [3, 2, 1], &nodes, &[]).is_err());
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn rejects_wrong_field_length() {
        let p = std::env::temp_dir().join("qdsim-vti-bad.vti");
        let a = [1.0, 2.0];
        assert!(write_vti(&p, [3, 1, 1], [0.0; 3], [1.0; 3], &[("a", &a)]).is_err());
        assert!(write_vti(&p, [0, 1, 1], [0.0; 3], [1.0; 3], &[]).is_err());
    }
}
