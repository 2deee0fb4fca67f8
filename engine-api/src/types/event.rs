//! Daemon events (`berth events`).

use std::collections::BTreeMap;

use serde::Serialize;

/// A daemon event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}
