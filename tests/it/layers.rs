//! The house's layers (docs/architecture.md): each top-level module of the crate imports only
//! the modules below it. A `crate::m` path outside the file's `#[cfg(test)]` module counts
//! as an import of `m` (doc comments included: a doc link upward is a dependency a reader
//! follows too).

use std::path::Path;

/// Top to bottom. `bench` sits beside the command line: its problems are built through
/// `pipeline::prepare`, so it is above the pipeline.
const LAYERS: &[&str] = &["cli", "bench", "pipeline", "parallel", "backend", "physics", "linalg", "grid", "scene", "materials", "output", "constants", "error"];

fn rank(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == m)
}

/// The text of a source file before its `#[cfg(test)]` module.
fn non_test_part(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod ").map_or(text, |i| &text[..i])
}

fn imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + 7..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        // `$crate::` in macros is the same crate
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut upward = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let Some(own) = rank(&top) else { continue };
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        for m in imports(non_test_part(&text)) {
            if let Some(r) = rank(&m) {
                if r < own {
                    upward.push(format!("{} imports {m} (layer {top} is below {m})", rel.display()));
                }
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
    // every top-level module is in the table (a new one must be placed)
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if !["lib", "main"].contains(&name.as_str()) {
            assert!(rank(&name).is_some(), "src/{name} is in no layer of LAYERS");
        }
    }
}
