//! Compiles every `.proto` under `proto/` with the vendored protoc, so no system
//! protoc is needed on a fresh machine.
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let root = PathBuf::from("proto");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    println!("cargo:rerun-if-changed=proto");
    if files.is_empty() {
        return Ok(());
    }
    tonic_prost_build::configure().compile_protos(&files, &[root])?;
    Ok(())
}
