//! Reading the files a user names (the scene, its `materials_file`, tabulated potentials,
//! `materials --file`) without trusting them: each must be a regular file of plausible size
//! before a byte is read, and the read itself is bounded, so that /dev/zero, /dev/urandom, a
//! named pipe, a folder or a file that grows while it is read is refused with a reason instead
//! of filling the memory or blocking for ever. JSON texts are checked for what users get
//! wrong at the top level (a byte-order mark, an empty file, an array instead of an object)
//! before the parser's messages, which speak of Rust types, can appear.
//!
//! The functions return the reason as a sentence; the caller adds the field (JSON path or
//! command-line flag) it concerns.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest scene file read, bytes (16 MiB: a scene with 10 000 regions is about 1 MB).
pub const MAX_SCENE_BYTES: u64 = 16 << 20;
/// Largest materials file read, bytes (16 MiB; the built-in database is about 10 kB).
pub const MAX_MATERIALS_BYTES: u64 = 16 << 20;

/// What kind of thing `path` is, in words, when it is not a regular file.
fn kind_of(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder, not a file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("a character device (such as /dev/zero or /dev/urandom), not a regular file");
        }
        if t.is_block_device() {
            return Some("a block device, not a regular file");
        }
        if t.is_fifo() {
            return Some("a named pipe (FIFO), not a regular file");
        }
        if t.is_socket() {
            return Some("a socket, not a regular file");
        }
    }
    Some("not a regular file")
}

/// Human size: bytes, KiB or MiB.
pub fn size_text(n: u64) -> String {
    if n < 1 << 10 {
        format!("{n} bytes")
    } else if n < 1 << 20 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// The reason a file could not be opened or inspected, in a user's words.
fn io_reason(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("file {} does not exist", path.display()),
        std::io::ErrorKind::PermissionDenied => format!("cannot read {}: permission denied", path.display()),
        _ => format!("cannot read {}: {e}", path.display()),
    }
}

/// Open `path` for reading if it is a regular file (symbolic links followed) of at most
/// `max` bytes; returns the open file and its length. The type is checked before the file
/// is opened (opening a named pipe would block) and again on the open file.
pub fn open_regular(path: &Path, max: u64) -> Result<(File, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| io_reason(path, &e))?;
    if let Some(k) = kind_of(&meta) {
        return Err(format!("{} is {k}", path.display()));
    }
    if meta.len() > max {
        return Err(format!(
            "{} is {}, more than the {} this input may have: is it the right file?",
            path.display(),
            size_text(meta.len()),
            size_text(max)
        ));
    }
    let f = File::open(path).map_err(|e| io_reason(path, &e))?;
    let meta = f.metadata().map_err(|e| io_reason(path, &e))?;
    if let Some(k) = kind_of(&meta) {
        return Err(format!("{} is {k}", path.display()));
    }
    Ok((f, meta.len()))
}

/// Read a whole regular file of at most `max` bytes. The read stops at `max` + 1 bytes
/// whatever the file claims (a file that grows, or a /proc file that reports size 0).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let (f, len) = open_regular(path, max)?;
    let mut bytes = Vec::with_capacity(len.min(max) as usize);
    f.take(max + 1).read_to_end(&mut bytes).map_err(|e| io_reason(path, &e))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} holds more than {}: is it the right file?", path.display(), size_text(max)));
    }
    Ok(bytes)
}

/// [`read_bounded`] of a UTF-8 text file.
pub fn read_text_bounded(path: &Path, max: u64) -> Result<String, String> {
    let bytes = read_bounded(path, max)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 text (invalid byte at offset {}): save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// The JSON kind of the value `text` starts with, named for messages: "an array", ...
fn json_kind(first: char) -> &'static str {
    match first {
        '[' => "an array [ ... ]",
        '"' => "a string",
        't' | 'f' => "a boolean",
        'n' => "null",
        '-' | '0'..='9' => "a number",
        _ => "something that is not JSON",
    }
}

/// Check what a JSON document that must be an object (`what`, e.g. "the scene") starts
/// with: no byte-order mark, not empty, `{` first. Returns the reason otherwise.
pub fn json_object_start(text: &str, what: &str) -> Result<(), String> {
    if text.starts_with('\u{feff}') {
        return Err("the file starts with a byte-order mark (BOM): save it as UTF-8 without BOM".into());
    }
    let Some(first) = text.trim_start_matches([' ', '\t', '\n', '\r']).chars().next() else {
        return Err(format!(
            "the file is empty{}: {what} is a JSON object {{ ... }}",
            if text.is_empty() { "" } else { " (only white space)" }
        ));
    };
    if first != '{' {
        return Err(format!("{what} must be a JSON object {{ ... }}, found {}", json_kind(first)));
    }
    Ok(())
}

/// Describe the text left after a complete JSON document (serde_json's "trailing
/// characters" error), in a user's words.
pub fn trailing_reason(e: &serde_json::Error, what: &str) -> String {
    format!(
        "unexpected text after the end of {what} at line {} column {}: a file holds one JSON object; remove what follows its closing }}",
        e.line(),
        e.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_checks() {
        assert!(json_object_start("{}", "the scene").is_ok());
        assert!(json_object_start("  \n{", "the scene").is_ok());
        assert!(json_object_start("\u{feff}{}", "the scene").unwrap_err().contains("BOM"));
        assert!(json_object_start("", "the scene").unwrap_err().contains("empty"));
        assert!(json_object_start(" \n ", "the scene").unwrap_err().contains("white space"));
        assert!(json_object_start("[1, 2]", "the scene").unwrap_err().contains("found an array"));
        assert!(json_object_start("\"x\"", "the scene").unwrap_err().contains("found a string"));
        assert!(json_object_start("-3", "the scene").unwrap_err().contains("found a number"));
        assert!(json_object_start("\0{}", "the scene").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn special_files_are_refused_before_reading() {
        let dir = std::env::temp_dir();
        let e = read_bounded(&dir, 100).unwrap_err();
        assert!(e.contains("folder"), "{e}");
        #[cfg(unix)]
        {
            let e = read_bounded(Path::new("/dev/zero"), 100).unwrap_err();
            assert!(e.contains("character device"), "{e}");
        }
        let e = read_bounded(Path::new("/no/such/file.json"), 100).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        let p = dir.join(format!("qdsim-files-test-{}.bin", std::process::id()));
        std::fs::write(&p, vec![b'x'; 200]).unwrap();
        let e = read_bounded(&p, 100).unwrap_err();
        assert!(e.contains("200 bytes") && e.contains("100 bytes"), "{e}");
        assert_eq!(read_bounded(&p, 200).unwrap().len(), 200);
        std::fs::write(&p, [0xff, 0xfe, b'{']).unwrap();
        assert!(read_text_bounded(&p, 100).unwrap_err().contains("UTF-8"));
        std::fs::remove_file(&p).ok();
    }
}
