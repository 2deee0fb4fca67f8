//! Reading a bundle: `config.json` parsed with errors that name the JSON field, and
//! the rootfs path resolved against the bundle.
use super::Error;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// Parse `path` as a runtime spec; a malformed file names the offending field.
pub fn load_spec(path: &Path) -> Result<Spec, Error> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_json(path, &data)
}

/// Parse JSON of any spec type, naming the field on error (`process.user.uid: ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, data: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let reason = if field == "." || field.is_empty() {
            e.inner().to_string()
        } else {
            format!("field {field}: {}", e.inner())
        };
        Error::Config {
            path: path.to_path_buf(),
            reason,
        }
    })
}

/// Checks that need no kernel: the fields create cannot do without.
pub fn validate(spec: &Spec, config: &Path) -> Result<(), Error> {
    let bad = |reason: &str| Error::Config {
        path: config.to_path_buf(),
        reason: reason.to_string(),
    };
    // `process` may be absent until `start` (the runtime spec only requires it
    // there); such a container simply ends when started.
    if let Some(process) = spec.process() {
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(bad("process.args must not be empty"));
        }
        if !process.cwd().is_absolute() {
            return Err(bad("process.cwd must be an absolute path"));
        }
    }
    if spec.root().is_none() {
        return Err(bad("root is required"));
    }
    Ok(())
}

/// `root.path`, relative to the bundle or absolute, canonicalized.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, Error> {
    let root = spec.root().as_ref().ok_or_else(|| Error::Config {
        path: bundle.join("config.json"),
        reason: "root is required".into(),
    })?;
    let p = bundle.join(root.path());
    std::fs::canonicalize(&p).map_err(|e| Error::Config {
        path: bundle.join("config.json"),
        reason: format!("root.path {}: {e}", p.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_field_is_named() {
        let json = br#"{"ociVersion":"1.0.0","process":{"user":{"uid":"zero","gid":0},"cwd":"/"}}"#;
        let err = parse_json::<Spec>(Path::new("/b/config.json"), json).expect_err("bad");
        let text = err.to_string();
        assert!(
            text.starts_with("/b/config.json: field process.user.uid"),
            "{text}"
        );
    }

    #[test]
    fn missing_args_is_an_error() {
        let json = br#"{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/"}}"#;
        let spec: Spec = parse_json(Path::new("c"), json).expect("parse");
        let err = validate(&spec, Path::new("c")).expect_err("no args");
        assert!(err.to_string().contains("process.args"), "{err}");
    }
}
