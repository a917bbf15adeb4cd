//! Reading a scene: [`parse_scene`] (JSON text to a [`Scene`], errors naming the field),
//! [`load_scene`] (a bounded read of the file, validation, and the check of the files the
//! scene names) and [`LoadedScene`], a scene with the folder its paths are relative to.

use std::path::{Path, PathBuf};

use super::{files, validate, Potential, Scene};
use crate::error::{QdError, Result};

/// A scene read from disk, with the folder its relative paths are resolved against.
#[derive(Clone, Debug)]
pub struct LoadedScene {
    pub scene: Scene,
    pub path: PathBuf,
    pub base_dir: PathBuf,
}

impl LoadedScene {
    /// Resolve a path written in the scene relative to the scene file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Every file this scene reads (the scene file, its `materials_file`, the `.npy` of each
    /// tabulated potential), resolved: what an output folder may never replace or hold.
    pub fn input_files(&self) -> Vec<PathBuf> {
        let mut v = vec![self.path.clone()];
        v.extend(self.scene.materials_file.iter().map(|f| self.resolve(f)));
        for p in &self.scene.potentials {
            if let Potential::File { path, .. } = p {
                v.push(self.resolve(path));
            }
        }
        v
    }
}

/// Parse a scene from JSON text. Errors name the JSON path of the offending field.
pub fn parse_scene(text: &str) -> Result<Scene> {
    files::json_object_start(text, "the scene").map_err(|r| QdError::input("(scene)", r))?;
    let de = &mut serde_json::Deserializer::from_str(text);
    let scene: Scene = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let path = if path.is_empty() || path == "." { "(scene)".to_string() } else { path };
        let reason = if inner.is_syntax() || inner.is_eof() {
            format!("malformed JSON: {inner}")
        } else {
            inner.to_string()
        };
        QdError::input(path, reason)
    })?;
    // nothing but white space may follow the scene object (` xyz`, `}}}`, NUL bytes)
    de.end().map_err(|e| QdError::input("(scene)", files::trailing_reason(&e, "the scene")))?;
    Ok(scene)
}

/// Read, parse and validate a scene file. The file must be a regular file of at most
/// [`files::MAX_SCENE_BYTES`]; the files it names (`materials_file`, tabulated potentials)
/// are checked to be regular files of plausible size (a potential: exactly a .npy of the
/// grid's shape) before anything is computed.
pub fn load_scene(path: &Path) -> Result<LoadedScene> {
    let text = files::read_text_bounded(path, files::MAX_SCENE_BYTES)
        .map_err(|r| QdError::input(path.display().to_string(), format!("cannot read scene file: {r}")))?;
    let scene = parse_scene(&text)?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let base_dir = if base_dir.as_os_str().is_empty() { PathBuf::from(".") } else { base_dir };
    let loaded = LoadedScene { scene, path: path.to_path_buf(), base_dir };
    validate::validate(&loaded.scene)?;
    check_input_files(&loaded)?;
    Ok(loaded)
}

/// The files a valid scene names are regular files of plausible size: `materials_file` at
/// most [`files::MAX_MATERIALS_BYTES`], each tabulated potential exactly a .npy header plus
/// one value per grid cell, with the grid's shape. Errors name the field.
pub fn check_input_files(loaded: &LoadedScene) -> Result<()> {
    if let Some(f) = &loaded.scene.materials_file {
        files::open_regular(&loaded.resolve(f), files::MAX_MATERIALS_BYTES).map_err(|r| QdError::input("materials_file", r))?;
    }
    let mut dims = None;
    for (i, p) in loaded.scene.potentials.iter().enumerate() {
        if let Potential::File { path, .. } = p {
            let dims = match &dims {
                Some(d) => d,
                None => dims.insert(loaded.scene.domain.cells()?.dims()),
            };
            crate::output::npy::check_npy(&loaded.resolve(path), dims)
                .map_err(|r| QdError::input(format!("potentials[{i}].path"), r))?;
        }
    }
    Ok(())
}
