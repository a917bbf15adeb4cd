//! Result writers: `.npy` arrays ([`npy`]), VTK ImageData ([`vtk`]), PNG plots
//! ([`plot`]), pretty JSON ([`write_json`]) and the atomic output folder ([`OutputDir`]).
//!
//! Grid arrays are flat `Vec<f64>` of length `nx*ny*nz`, x fastest
//! (`i + nx*(j + ny*k)`); lengths in nm, energies in eV.

pub mod lines;
pub mod npy;
pub mod plot;
pub mod vtk;

use std::path::{Path, PathBuf};

use crate::error::{QdError, Result};

/// An output folder written atomically: files go into a hidden sibling temp folder,
/// and `commit` renames it into place (replacing an older folder of the same name).
/// Dropping it uncommitted removes the temp folder, so an error leaves no
/// half-written result.
#[derive(Debug)]
pub struct OutputDir {
    final_path: PathBuf,
    tmp_path: PathBuf,
    committed: bool,
    /// Ranks other than 0 of an MPI job write into a private temp folder that `commit`
    /// deletes: only rank 0's folder is put in place.
    discard: bool,
}

impl OutputDir {
    /// Creates the temp folder `.<name>.tmp-<pid>` next to `final_path`. The parent
    /// folder is created if missing. A stale temp folder of the same name is removed.
    pub fn create(final_path: &Path) -> Result<OutputDir> {
        let name = final_path
            .file_name()
            .ok_or_else(|| {
                QdError::input(
                    final_path.display().to_string(),
                    "output path must name a folder (it has no final component)",
                )
            })?
            .to_string_lossy()
            .into_owned();
        if !crate::parallel::is_root() {
            let rank = crate::parallel::world().map(|w| w.rank()).unwrap_or(0);
            let tmp_path = std::env::temp_dir().join(format!("qdsim-rank{rank}-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp_path);
            std::fs::create_dir_all(&tmp_path).map_err(|e| QdError::io(format!("creating temp output folder {}", tmp_path.display()), e))?;
            return Ok(OutputDir { final_path: final_path.to_path_buf(), tmp_path, committed: false, discard: true });
        }
        let parent = match final_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| {
            QdError::io(format!("creating output parent folder {}", parent.display()), e)
        })?;
        let tmp_path = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp_path.exists() {
            std::fs::remove_dir_all(&tmp_path).map_err(|e| {
                QdError::io(format!("removing stale temp folder {}", tmp_path.display()), e)
            })?;
        }
        std::fs::create_dir(&tmp_path).map_err(|e| {
            QdError::io(format!("creating temp output folder {}", tmp_path.display()), e)
        })?;
        Ok(OutputDir { final_path: final_path.to_path_buf(), tmp_path, committed: false, discard: false })
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
    /// folder of that name is first moved aside, then deleted once the new one is in
    /// place (it is restored if the rename fails).
    pub fn commit(mut self) -> Result<PathBuf> {
        let final_path = self.final_path.clone();
        if self.discard {
            // Drop removes the private folder
            return Ok(final_path);
        }
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
        let out = OutputDir::create(&target).unwrap();
        assert_eq!(out.final_path(), target.as_path());
        write_json(&out.path("results.json"), &serde_json::json!({"E": [0.1, 0.2]})).unwrap();
        npy::write_npy(&out.path("a.npy"), &[2], &[1.0, 2.0]).unwrap();
        assert!(!target.exists());
        let p = out.commit().unwrap();
        assert_eq!(p, target);
        assert_eq!(entries(&target), vec!["a.npy", "results.json"]);
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
            let out = OutputDir::create(&base.join("run")).unwrap();
            std::fs::write(out.path("x.txt"), "partial").unwrap();
            assert_eq!(entries(&base).len(), 1);
        }
        assert!(entries(&base).is_empty());
    }

    #[test]
    fn commit_replaces_existing_folder() {
        let base = scratch("replace");
        let target = base.join("run");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();
        let out = OutputDir::create(&target).unwrap();
        std::fs::write(out.path("new.txt"), "new").unwrap();
        out.commit().unwrap();
        assert_eq!(entries(&target), vec!["new.txt"]);
        assert_eq!(entries(&base), vec!["run"]);
    }
}
