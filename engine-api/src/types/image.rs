//! Images as berthd reports them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: String,
}

/// An image as berthd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: String,
    pub size: i64,
    pub config: ImageConfig,
    pub architecture: String,
    pub os: String,
    pub layers: Vec<String>,
    pub author: String,
    pub comment: String,
    pub parent: String,
}

impl Image {
    /// `docker image inspect`'s JSON shape.
    pub fn docker_json(&self) -> Value {
        let c = &self.config;
        let set = |v: &Vec<String>| -> Value {
            if v.is_empty() {
                Value::Null
            } else {
                Value::Object(v.iter().map(|k| (k.clone(), json!({}))).collect())
            }
        };
        let list = |v: &Vec<String>| -> Value {
            if v.is_empty() {
                Value::Null
            } else {
                json!(v)
            }
        };
        json!({
            "Id": self.id,
            "RepoTags": self.repo_tags,
            "RepoDigests": self.repo_digests,
            "Parent": self.parent,
            "Comment": self.comment,
            "Created": self.created,
            "Author": self.author,
            "Config": {
                "User": c.user,
                "ExposedPorts": set(&c.exposed_ports),
                "Env": list(&c.env),
                "Cmd": list(&c.cmd),
                "Entrypoint": list(&c.entrypoint),
                "Volumes": set(&c.volumes),
                "WorkingDir": c.working_dir,
                "Labels": c.labels,
                "StopSignal": c.stop_signal,
            },
            "Architecture": self.architecture,
            "Os": self.os,
            "Size": self.size,
            "RootFS": {"Type": "layers", "Layers": self.layers},
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    pub id: String,
    pub created: String,
    pub created_by: String,
    pub size: i64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// What `rmi` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedImage {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
}
