//! The image config blob (OCI image-spec `config.json` / docker's image JSON).
//!
//! Only the fields berth reads are typed; everything else is kept in `extra` so a
//! loaded config re-serialises without losing data. The image ID is always the digest
//! of the *stored bytes*, never of a re-serialisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::content::Digest;

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The whole config blob.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub author: String,
    #[serde(default, deserialize_with = "null_default")]
    pub architecture: String,
    #[serde(default, deserialize_with = "null_default")]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub config: ImageConfig,
    pub rootfs: RootFs,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub history: Vec<HistoryItem>,
    /// Fields berth does not interpret (docker's `container_config`, `docker_version`…).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `rootfs` of the config: the layers' diff IDs, bottom first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub diff_ids: Vec<Digest>,
}

/// One `history` entry of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The run config (`config` in the blob, `Config` in `docker inspect`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub user: String,
    /// `"80/tcp"` → `{}` (docker's shape).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `"/data"` → `{}` (docker's shape).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub volumes: BTreeMap<String, serde_json::Value>,
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub working_dir: String,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ImageConfiguration {
    /// Parses a config blob; `digest` names it in errors.
    pub fn parse(bytes: &[u8], digest: &Digest) -> Result<ImageConfiguration, super::Error> {
        let c: ImageConfiguration =
            serde_json::from_slice(bytes).map_err(|e| super::Error::InvalidConfig {
                digest: digest.to_string(),
                reason: e.to_string(),
            })?;
        if c.rootfs.kind != "layers" {
            return Err(super::Error::InvalidConfig {
                digest: digest.to_string(),
                reason: format!("rootfs.type is {:?}, expected \"layers\"", c.rootfs.kind),
            });
        }
        Ok(c)
    }
}

/// This host's architecture as OCI configs and indexes spell it (Go's names).
pub(super) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_with_nulls_parses_and_keeps_unknown_fields() {
        let json = br#"{"architecture":"amd64","config":{"Env":null,"Cmd":["sh"],"Entrypoint":null,
            "ExposedPorts":{"80/tcp":{}},"Labels":null,"OnBuild":null},"container":"abc",
            "created":"2024-01-01T00:00:00Z","history":[{"created":"2024-01-01T00:00:00Z","created_by":"x","empty_layer":true}],
            "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"]}}"#;
        let d = Digest::of_bytes(json);
        let c = ImageConfiguration::parse(json, &d).unwrap();
        assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
        assert!(c.config.env.is_empty());
        assert!(c.config.exposed_ports.contains_key("80/tcp"));
        assert_eq!(
            c.extra.get("container").and_then(|v| v.as_str()),
            Some("abc")
        );
        assert!(c.config.extra.contains_key("OnBuild"));
        assert!(c.history[0].empty_layer);
        let bad = br#"{"rootfs":{"type":"other"}}"#;
        assert!(ImageConfiguration::parse(bad, &d).is_err());
    }
}
