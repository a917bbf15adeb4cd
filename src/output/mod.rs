//! Result writers: `.npy` arrays ([`npy`]), VTK ImageData ([`vtk`]), PNG plots
//! ([`plot`]), pretty JSON ([`write_json`]) and the atomic output folder ([`OutputDir`]).
//!
//! Grid arrays are flat `Vec<f64>` of length `nx*ny*nz`, x fastest
//! (`i + nx*(j + ny*k)`); lengths in nm, energies in eV.

pub mod files;
pub mod jobs;
pub mod lines;
pub mod npy;
pub mod plot;
pub mod vtk;

use std::path::{Path, PathBuf};

use crate::error::{QdError, Result};

pub use jobs::{run_jobs, WriteJob};

/// Values converted per rayon task by [`le_bytes_into`] (below it, one task: a short
/// array is not worth the split).
const CONVERT_PIECE: usize = 1 << 15;

/// Values per piece of a streamed array: a writer converts and writes an array a piece at
/// a time (24 MiB of f64, with its base64 in a .vti), so it holds a bounded buffer, not a
/// copy of the whole file: at 256³ the .vti's 13 encoded fields held together were ~2.3 GB,
/// the output phase's peak. A multiple of 3, so base64 pieces join into one encoding.
pub(crate) const STREAM_PIECE: usize = 3 << 20;

/// Appends the little-endian bytes of `data` to `out`, converted in parallel (the same
/// bytes as `for v in data { out.extend_from_slice(&v.to_le_bytes()) }`).
pub(crate) fn le_bytes_into(data: &[f64], out: &mut Vec<u8>) {
    use rayon::prelude::*;
    let start = out.len();
    out.resize(start + 8 * data.len(), 0);
    out[start..].par_chunks_mut(8 * CONVERT_PIECE).zip(data.par_chunks(CONVERT_PIECE)).for_each(|(bytes, values)| {
        for (b, v) in bytes.chunks_exact_mut(8).zip(values) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    });
}

/// The marker file every output folder carries: `--out` replaces an existing folder only
/// if it has this marker, is empty, or (from versions before the marker) holds a
/// results.json or sweep.json naming qdsim-gpu as its program and listing every entry
/// ([`is_output_folder`], [`check_target`]).
pub const MARKER: &str = ".qdsim-output";

/// What the marker file says (its first word, `qdsim-gpu`, is what is checked).
const MARKER_TEXT: &str = "qdsim-gpu output folder: the next run with the same output path replaces this folder as a whole\n";

/// The error for an output path that may not be written: exit 2, naming `--out`.
fn refuse(final_path: &Path, reason: impl std::fmt::Display) -> QdError {
    QdError::input("--out", format!("{}: {reason}", final_path.display()))
}

/// A failure creating the output's parent folder or its temp folder: a bad path (no
/// permission, a file in the way, a read-only or special file system such as /proc) is
/// bad input (exit 2, naming `--out`); a full disk or an I/O error stays an I/O failure.
fn creation_error(final_path: &Path, what: &str, at: &Path, e: std::io::Error) -> QdError {
    use std::io::ErrorKind as K;
    let io_failure = matches!(e.kind(), K::StorageFull | K::QuotaExceeded | K::Interrupted | K::OutOfMemory | K::TimedOut | K::WouldBlock)
        || e.raw_os_error() == Some(5); // EIO
    if io_failure {
        QdError::io(format!("{what} {}", at.display()), e)
    } else {
        refuse(final_path, format!("cannot be written ({what} {}: {e})", at.display()))
    }
}

/// The final component of an output path (an error for `/`, `.`, `..` and the like).
fn output_name(final_path: &Path) -> Result<String> {
    match final_path.file_name() {
        Some(n) if final_path.components().next_back().is_some_and(|c| matches!(c, std::path::Component::Normal(_))) => {
            Ok(n.to_string_lossy().into_owned())
        }
        _ => Err(refuse(final_path, "must name a folder (its last component is not a name)")),
    }
}

/// Whether `dir` is an output folder this program wrote: it holds the marker file, or (older
/// versions, without the marker) a results.json or sweep.json whose `program` is qdsim-gpu
/// and whose `files` list every entry of the folder (nothing of the user's was added).
pub fn is_output_folder(dir: &Path) -> bool {
    let small_file = |p: &Path, limit: u64| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file() && m.len() <= limit);
    let marker = dir.join(MARKER);
    if small_file(&marker, 4096) && std::fs::read_to_string(&marker).is_ok_and(|t| t.starts_with("qdsim-gpu")) {
        return true;
    }
    ["results.json", "sweep.json"].iter().any(|f| {
        let p = dir.join(f);
        small_file(&p, 256 << 20)
            && std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).is_some_and(|v| {
                let prog = &v["program"];
                let listed: Vec<&str> = v["files"].as_array().into_iter().flatten().filter_map(|f| f.as_str()).map(|f| f.trim_end_matches('/')).collect();
                (prog["name"] == "qdsim-gpu" || *prog == "qdsim-gpu")
                    && std::fs::read_dir(dir).is_ok_and(|entries| {
                        entries.into_iter().all(|e| e.is_ok_and(|e| {
                            let n = e.file_name();
                            n == *f || listed.iter().any(|l| n == *l)
                        }))
                    })
            })
    })
}

/// Checks that `final_path` may be written as an output folder, replacing what is there:
/// nothing is there; or an output folder of this program (or an empty folder) that holds
/// none of `inputs` (the scene and the files it reads). Anything else (a file, a symbolic
/// link, a folder of the user's, the scene itself or a folder holding it) is refused with
/// exit 2 naming `--out`, and left untouched.
pub fn check_target(final_path: &Path, inputs: &[PathBuf]) -> Result<()> {
    output_name(final_path)?;
    let meta = match std::fs::symlink_metadata(final_path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refuse(final_path, format!("cannot be used as an output folder ({e})"))),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            final_path,
            "is a symbolic link; an output path is replaced as a whole, so give a new path or the output folder itself",
        ));
    }
    let canonical = std::fs::canonicalize(final_path).unwrap_or_else(|_| final_path.to_path_buf());
    for input in inputs {
        if let Ok(c) = std::fs::canonicalize(input) {
            if c.starts_with(&canonical) {
                return Err(refuse(
                    final_path,
                    if c == canonical {
                        "is an input of this run (the scene or a file it reads); it was left untouched (choose another --out)".to_string()
                    } else {
                        format!("holds {}, an input of this run; an output folder is replaced as a whole, so it may not hold the scene or a file it reads; it was left untouched (choose another --out)", input.display())
                    },
                ));
            }
        }
    }
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd.starts_with(&canonical) {
            return Err(refuse(
                final_path,
                "is (or holds) the current folder; replacing it would pull the folder out from under the shell (choose another --out)",
            ));
        }
    }
    if !meta.is_dir() {
        return Err(refuse(
            final_path,
            "exists and is not a folder; it was left untouched (choose another --out, or remove it yourself)",
        ));
    }
    let empty = std::fs::read_dir(final_path).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !empty && !is_output_folder(final_path) {
        return Err(refuse(
            final_path,
            format!("exists and is not an output folder written by qdsim-gpu (it has no {MARKER} marker); it was left untouched (choose another --out, or remove it yourself)"),
        ));
    }
    Ok(())
}

/// [`check_target`], and on rank 0 a trial creation of the temp folder in the nearest
/// existing folder on the way to `final_path` (removed at once; nothing is created
/// otherwise): a bad output path (a file in the way, no permission, a read-only or special
/// file system) is refused before a long solve, not after it.
pub fn preflight(final_path: &Path, inputs: &[PathBuf]) -> Result<()> {
    preflight_for_rank(final_path, inputs, 0)
}

/// [`preflight`] on rank `rank` of an MPI job (the caller says which rank it is; this
/// layer knows nothing of MPI): ranks other than 0 only check the target.
pub fn preflight_for_rank(final_path: &Path, inputs: &[PathBuf], rank: usize) -> Result<()> {
    check_target(final_path, inputs)?;
    if rank != 0 {
        return Ok(());
    }
    let name = output_name(final_path)?;
    let mut dir = match final_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    loop {
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(refuse(final_path, format!("cannot be created: {} is not a folder", dir.display()))),
            Err(_) => match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
                _ => {
                    dir = PathBuf::from(".");
                    break;
                }
            },
        }
    }
    let probe = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(creation_error(final_path, "creating a folder in", &dir, e)),
    }
}

/// Whether process `pid` may be running. Linux: /proc/PID; elsewhere on Unix `ps -p`;
/// when neither can tell, it is assumed alive (its files are kept).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc/self").exists() {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    #[cfg(unix)]
    {
        if let Ok(s) = std::process::Command::new("ps")
            .args(["-p", &pid.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
        {
            return s.success();
        }
    }
    true
}

/// Removes what killed runs left beside `final_path` in `parent`: `.NAME.tmp-PID` (a temp
/// output) and `.NAME.old-PID` (a previous output moved aside during a commit) of processes
/// that are no longer running. An `.old-PID` folder is put back in place when a killed
/// commit left nothing at `final_path`. This process's own id counts as dead here: nothing
/// of this run exists yet, so such entries are leftovers of an earlier process.
fn remove_stale(parent: &Path, name: &str, final_path: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let (tmp, old) = (format!(".{name}.tmp-"), format!(".{name}.old-"));
    let own = std::process::id();
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(f) = file_name.to_str() else { continue };
        let (is_old, pid) = match (f.strip_prefix(&tmp), f.strip_prefix(&old)) {
            (Some(p), _) => (false, p),
            (_, Some(p)) => (true, p),
            _ => continue,
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid != own && process_alive(pid) {
            continue;
        }
        let p = e.path();
        if is_old && std::fs::symlink_metadata(final_path).is_err() && is_output_folder(&p) && std::fs::rename(&p, final_path).is_ok() {
            continue;
        }
        let _ = remove_any(&p);
    }
}

/// The same for the private rank folders (`qdsim-rankR-PID-NAME` in the temp folder) of
/// the other ranks of MPI jobs that were killed.
fn remove_stale_rank_folders(tmp: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    let own = std::process::id();
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix("qdsim-rank")) else { continue };
        let mut parts = rest.splitn(3, '-');
        let (Some(rank), Some(pid), Some(n)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let (Ok(_), Ok(pid)) = (rank.parse::<u32>(), pid.parse::<u32>()) else { continue };
        if n == name && (pid == own || !process_alive(pid)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// An output folder written atomically: files go into a hidden sibling temp folder,
/// and `commit` renames it into place (replacing an older output folder of the same name).
/// Dropping it uncommitted removes the temp folder, so an error leaves no
/// half-written result. An existing path that is not an output folder of this program, or
/// that is or holds one of the run's input files, is never replaced ([`check_target`]).
#[derive(Debug)]
pub struct OutputDir {
    final_path: PathBuf,
    tmp_path: PathBuf,
    inputs: Vec<PathBuf>,
    committed: bool,
    /// Ranks other than 0 of an MPI job write into a private temp folder that `commit`
    /// deletes: only rank 0's folder is put in place.
    discard: bool,
}

impl OutputDir {
    /// Checks `final_path` ([`check_target`] with the run's `inputs`, which it may never
    /// replace or hold), removes what killed runs left beside it (temp folders of processes
    /// no longer running) and creates the temp folder `.<name>.tmp-<pid>` next to it, with
    /// the marker file. The parent folder is created if missing.
    pub fn create(final_path: &Path, inputs: &[PathBuf]) -> Result<OutputDir> {
        Self::create_for_rank(final_path, inputs, 0)
    }

    /// [`OutputDir::create`] on rank `rank` of an MPI job: rank 0 writes the folder; any
    /// other rank writes a private temp folder that `commit` deletes (the caller says which
    /// rank it is: the pipeline decides who writes, this layer knows nothing of MPI).
    pub fn create_for_rank(final_path: &Path, inputs: &[PathBuf], rank: usize) -> Result<OutputDir> {
        let name = output_name(final_path)?;
        let parent = match final_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if rank != 0 {
            check_target(final_path, inputs)?;
            let tmp_path = std::env::temp_dir().join(format!("qdsim-rank{rank}-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp_path);
            std::fs::create_dir_all(&tmp_path).map_err(|e| QdError::io(format!("creating temp output folder {}", tmp_path.display()), e))?;
            return Ok(OutputDir { final_path: final_path.to_path_buf(), tmp_path, inputs: inputs.to_vec(), committed: false, discard: true });
        }
        remove_stale(&parent, &name, final_path);
        remove_stale_rank_folders(&std::env::temp_dir(), &name);
        check_target(final_path, inputs)?;
        std::fs::create_dir_all(&parent).map_err(|e| creation_error(final_path, "creating its parent folder", &parent, e))?;
        let tmp_path = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::create_dir(&tmp_path).map_err(|e| creation_error(final_path, "creating the temp output folder", &tmp_path, e))?;
        let dir = OutputDir { final_path: final_path.to_path_buf(), tmp_path, inputs: inputs.to_vec(), committed: false, discard: false };
        let marker = dir.tmp_path.join(MARKER);
        std::fs::write(&marker, MARKER_TEXT).map_err(|e| QdError::io(format!("writing {}", marker.display()), e))?;
        Ok(dir)
    }

    /// Where to write `file_name` (inside the temp folder until `commit`).
    pub fn path(&self, file_name: &str) -> PathBuf {
        self.tmp_path.join(file_name)
    }

    /// The folder the results will have once committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Renames the temp folder into place and returns the final path. An existing
    /// output folder of that name (checked again: something else may have appeared there
    /// during the run) is first moved aside, then deleted once the new one is in place (it
    /// is restored if the rename fails).
    pub fn commit(mut self) -> Result<PathBuf> {
        let final_path = self.final_path.clone();
        if self.discard {
            // Drop removes the private folder
            return Ok(final_path);
        }
        check_target(&final_path, &self.inputs)?;
        let mut aside: Option<PathBuf> = None;
        if std::fs::symlink_metadata(&final_path).is_ok() {
            let name = final_path.file_name().unwrap_or_default().to_string_lossy();
            let old = self
                .tmp_path
                .with_file_name(format!(".{name}.old-{}", std::process::id()));
            if std::fs::symlink_metadata(&old).is_ok() {
                remove_any(&old).map_err(|e| {
                    QdError::io(format!("removing stale folder {}", old.display()), e)
                })?;
            }
            std::fs::rename(&final_path, &old).map_err(|e| {
                QdError::io(format!("moving old results {} aside", final_path.display()), e)
            })?;
            aside = Some(old);
        }
        if let Err(e) = std::fs::rename(&self.tmp_path, &final_path) {
            if let Some(old) = &aside {
                let _ = std::fs::rename(old, &final_path);
            }
            return Err(QdError::io(
                format!(
                    "renaming {} to {}",
                    self.tmp_path.display(),
                    final_path.display()
                ),
                e,
            ));
        }
        self.committed = true;
        if let Some(old) = aside {
            remove_any(&old).map_err(|e| {
                QdError::io(format!("removing old results {}", old.display()), e)
            })?;
        }
        Ok(final_path)
    }
}

/// Checks that the file `final_path` may be written, replacing what is there: nothing is
/// there, or a file that `is_ours` says this program wrote. A folder, a symbolic link, one
/// of `inputs` or a file of the user's is refused with exit 2 naming `--out`.
pub fn check_file_target(final_path: &Path, inputs: &[PathBuf], is_ours: &dyn Fn(&Path) -> bool) -> Result<()> {
    let bad = |reason: &str| refuse(final_path, reason);
    output_name(final_path)?;
    match std::fs::symlink_metadata(final_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(refuse(final_path, format!("cannot be written ({e})"))),
        Ok(m) if m.is_dir() => Err(bad("is a folder; give the path of the file to write")),
        Ok(m) if m.file_type().is_symlink() => Err(bad("is a symbolic link; give a new path or the file itself")),
        Ok(_) => {
            let canonical = std::fs::canonicalize(final_path).unwrap_or_else(|_| final_path.to_path_buf());
            if inputs.iter().any(|i| std::fs::canonicalize(i).is_ok_and(|c| c == canonical)) {
                Err(bad("is an input of this run; it was left untouched (choose another --out)"))
            } else if !is_ours(final_path) {
                Err(bad("exists and was not written by qdsim-gpu; it was left untouched (choose another --out, or remove it yourself)"))
            } else {
                Ok(())
            }
        }
    }
}

/// Writes a single output file atomically: `write` fills a hidden temp file beside
/// `final_path`, which is then renamed into place, so a failure leaves no half-written
/// file. An existing `final_path` is replaced only if `is_ours` says this program wrote it
/// (a folder, a symbolic link, one of `inputs` or a file of the user's is refused with
/// exit 2 naming `--out`). Temp files of killed runs are removed first.
pub fn write_file_atomically(
    final_path: &Path,
    inputs: &[PathBuf],
    is_ours: impl Fn(&Path) -> bool,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let name = output_name(final_path)?;
    let parent = match final_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    remove_stale(&parent, &name, final_path);
    let check = || check_file_target(final_path, inputs, &is_ours);
    check()?;
    std::fs::create_dir_all(&parent).map_err(|e| creation_error(final_path, "creating its parent folder", &parent, e))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    // a guard removes the temp file on every early return
    struct Guard(PathBuf, bool);
    impl Drop for Guard {
        fn drop(&mut self) {
            if !self.1 {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| creation_error(final_path, "creating the temp file", &tmp, e))?;
    let mut guard = Guard(tmp.clone(), false);
    write(&tmp)?;
    check()?;
    std::fs::rename(&tmp, final_path)
        .map_err(|e| QdError::io(format!("renaming {} to {}", tmp.display(), final_path.display()), e))?;
    guard.1 = true;
    Ok(())
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(p)?.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp_path);
        }
    }
}

/// Writes `value` as pretty-printed JSON (with a trailing newline).
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| QdError::Internal(format!("serialising {}: {e}", path.display())))?;
    s.push('\n');
    std::fs::write(path, s).map_err(|e| QdError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir()
            .join(format!("qdsim-outdir-test-{}", std::process::id()))
            .join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_creates_folder_with_files() {
        let base = scratch("commit");
        let target = base.join("nested").join("run1");
        let out = OutputDir::create(&target, &[]).unwrap();
        assert_eq!(out.final_path(), target.as_path());
        write_json(&out.path("results.json"), &serde_json::json!({"E": [0.1, 0.2]})).unwrap();
        npy::write_npy(&out.path("a.npy"), &[2], &[1.0, 2.0]).unwrap();
        assert!(!target.exists());
        let p = out.commit().unwrap();
        assert_eq!(p, target);
        assert_eq!(entries(&target), vec![MARKER, "a.npy", "results.json"]);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(target.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(v["E"][1], 0.2);
        assert_eq!(entries(&base.join("nested")), vec!["run1"]);
    }

    #[test]
    fn drop_without_commit_leaves_nothing() {
        let base = scratch("drop");
        {
            let out = OutputDir::create(&base.join("run"), &[]).unwrap();
            std::fs::write(out.path("x.txt"), "partial").unwrap();
            assert_eq!(entries(&base).len(), 1);
        }
        assert!(entries(&base).is_empty());
    }

    #[test]
    fn commit_replaces_an_earlier_output_folder() {
        let base = scratch("replace");
        let target = base.join("run");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join(MARKER), MARKER_TEXT).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();
        let out = OutputDir::create(&target, &[]).unwrap();
        std::fs::write(out.path("new.txt"), "new").unwrap();
        out.commit().unwrap();
        assert_eq!(entries(&target), vec![MARKER, "new.txt"]);
        assert_eq!(entries(&base), vec!["run"]);
        // an output folder of a version before the marker: its results.json names the program
        std::fs::remove_file(target.join(MARKER)).unwrap();
        std::fs::write(target.join("results.json"), r#"{"program": {"name": "qdsim-gpu", "version": "0.1.0"}, "files": ["new.txt", "results.json"]}"#).unwrap();
        OutputDir::create(&target, &[]).unwrap().commit().unwrap();
        assert_eq!(entries(&target), vec![MARKER]);
        // ... but not one to which the user has added a file
        std::fs::remove_file(target.join(MARKER)).unwrap();
        std::fs::write(target.join("results.json"), r#"{"program": {"name": "qdsim-gpu"}, "files": ["results.json"]}"#).unwrap();
        std::fs::write(target.join("my-analysis.txt"), "mine").unwrap();
        refused(OutputDir::create(&target, &[]).unwrap_err(), "not an output folder");
        std::fs::remove_file(target.join("my-analysis.txt")).unwrap();
        OutputDir::create(&target, &[]).unwrap().commit().unwrap();
        assert_eq!(entries(&target), vec![MARKER]);
        // an empty folder holds nothing to lose
        std::fs::remove_dir_all(&target).unwrap();
        std::fs::create_dir(&target).unwrap();
        OutputDir::create(&target, &[]).unwrap().commit().unwrap();
        assert_eq!(entries(&target), vec![MARKER]);
    }

    fn refused(e: QdError, what: &str) {
        assert_eq!(e.exit_code(), crate::error::EXIT_BAD_INPUT, "{e}");
        let t = e.to_string();
        assert!(t.contains("--out") && t.contains(what), "{t}");
    }

    #[test]
    fn refuses_what_it_did_not_write_and_leaves_it_intact() {
        let base = scratch("refuse");
        // a file of the user's
        let file = base.join("notes.txt");
        std::fs::write(&file, "my notes").unwrap();
        refused(OutputDir::create(&file, &[]).unwrap_err(), "is not a folder");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "my notes");
        // a folder of the user's, also with a results.json of another program
        let user = base.join("data");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("results.json"), r#"{"program": "other"}"#).unwrap();
        refused(OutputDir::create(&user, &[]).unwrap_err(), "not an output folder");
        assert_eq!(entries(&user), vec!["results.json"]);
        // the scene itself, and an output folder that holds the scene
        let ours = base.join("ours");
        std::fs::create_dir(&ours).unwrap();
        std::fs::write(ours.join(MARKER), MARKER_TEXT).unwrap();
        let scene = ours.join("scene.json");
        std::fs::write(&scene, "{}").unwrap();
        refused(OutputDir::create(&scene, std::slice::from_ref(&scene)).unwrap_err(), "is an input");
        refused(OutputDir::create(&ours, std::slice::from_ref(&scene)).unwrap_err(), "holds");
        // ... reached through another spelling of the path
        let dotted = base.join("data").join("..").join("ours");
        refused(OutputDir::create(&dotted, &[ours.join(".").join("scene.json")]).unwrap_err(), "holds");
        refused(OutputDir::create(&base, std::slice::from_ref(&scene)).unwrap_err(), "holds");
        assert_eq!(entries(&ours), vec![MARKER, "scene.json"]);
        // a symbolic link, a path through a file, a path with no name
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&ours, base.join("link")).unwrap();
            refused(OutputDir::create(&base.join("link"), &[]).unwrap_err(), "symbolic link");
            assert!(std::fs::symlink_metadata(base.join("link")).unwrap().file_type().is_symlink());
        }
        refused(OutputDir::create(&file.join("sub"), &[]).unwrap_err(), "notes.txt");
        refused(preflight(&file.join("sub").join("deeper"), &[]).unwrap_err(), "notes.txt");
        // a file system where nothing can be created
        if Path::new("/proc/self").exists() {
            refused(preflight(Path::new("/proc/qdsim-out"), &[]).unwrap_err(), "cannot be written");
            refused(OutputDir::create(Path::new("/proc/qdsim-out"), &[]).unwrap_err(), "cannot be written");
        }
        // a missing parent is fine (created when the folder is written, not before)
        preflight(&base.join("new").join("deeper").join("run"), &[]).unwrap();
        assert!(!base.join("new").exists());
        refused(OutputDir::create(&base.join(".."), &[]).unwrap_err(), "must name a folder");
        // nothing was left beside them
        let mut want = vec!["data", "notes.txt", "ours"];
        if cfg!(unix) {
            want.insert(1, "link");
        }
        assert_eq!(entries(&base), want);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "my notes");
    }

    #[test]
    fn commit_checks_again_what_appeared_meanwhile() {
        let base = scratch("meanwhile");
        let target = base.join("run");
        let out = OutputDir::create(&target, &[]).unwrap();
        std::fs::write(&target, "written by someone else during the run").unwrap();
        refused(out.commit().unwrap_err(), "is not a folder");
        assert_eq!(entries(&base), vec!["run"]);
        assert!(std::fs::read_to_string(&target).unwrap().starts_with("written by"));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn leftovers_of_killed_runs_are_removed_and_live_ones_kept() {
        let base = scratch("stale");
        let target = base.join("run.out");
        // no process has an id above the kernel's limit (at most 2^22)
        let dead = 4_194_304 + 12_345;
        // this process's own id: a leftover of an earlier process that had it (removed, and
        // replaced by this run's temp folder); the parent process is alive (kept)
        let alive = std::process::id();
        let parent = std::os::unix::process::parent_id();
        for d in [format!(".run.out.tmp-{dead}"), format!(".run.out.tmp-{parent}"), format!(".other.out.tmp-{dead}"), format!(".run.out.tmp-{alive}")] {
            std::fs::create_dir(base.join(&d)).unwrap();
            std::fs::write(base.join(&d).join("psi2_000.npy"), "partial").unwrap();
        }
        // a commit killed between moving the old results aside and renaming the new ones in
        let old = base.join(format!(".run.out.old-{dead}"));
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join(MARKER), MARKER_TEXT).unwrap();
        std::fs::write(old.join("results.json"), "{}").unwrap();
        let out = OutputDir::create(&target, &[]).unwrap();
        // the old results were put back in place (and will be replaced by the commit)
        assert_eq!(entries(&target), vec![MARKER, "results.json"]);
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(
            entries(&base),
            sorted(vec![format!(".other.out.tmp-{dead}"), format!(".run.out.tmp-{alive}"), format!(".run.out.tmp-{parent}"), "run.out".into()])
        );
        assert_eq!(entries(&base.join(format!(".run.out.tmp-{alive}"))), vec![MARKER]);
        out.commit().unwrap();
        assert_eq!(entries(&base), sorted(vec![format!(".other.out.tmp-{dead}"), format!(".run.out.tmp-{parent}"), "run.out".into()]));
        assert_eq!(entries(&target), vec![MARKER]);
    }

    #[test]
    fn single_files_are_written_atomically_and_only_over_our_own() {
        let base = scratch("file");
        let target = base.join("H.mtx");
        let ours = |p: &Path| std::fs::read_to_string(p).is_ok_and(|t| t.starts_with("ours"));
        write_file_atomically(&target, &[], ours, |tmp| std::fs::write(tmp, "ours 1").map_err(|e| QdError::io("w", e))).unwrap();
        write_file_atomically(&target, &[], ours, |tmp| std::fs::write(tmp, "ours 2").map_err(|e| QdError::io("w", e))).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "ours 2");
        // a failing writer leaves the old file and no temp file
        let e = write_file_atomically(&target, &[], ours, |tmp| {
            std::fs::write(tmp, "half").unwrap();
            Err(QdError::io("writing", std::io::Error::other("disk full")))
        });
        assert_eq!(e.unwrap_err().exit_code(), crate::error::EXIT_INTERNAL);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "ours 2");
        assert_eq!(entries(&base), vec!["H.mtx"]);
        // a file of the user's, a folder, an input
        std::fs::write(&target, "user data").unwrap();
        refused(check_file_target(&target, &[], &ours).unwrap_err(), "not written by qdsim-gpu");
        refused(check_file_target(&base, &[], &ours).unwrap_err(), "is a folder");
        std::fs::write(&target, "ours").unwrap();
        refused(check_file_target(&target, std::slice::from_ref(&target), &ours).unwrap_err(), "is an input");
        assert_eq!(entries(&base), vec!["H.mtx"]);
    }
}
