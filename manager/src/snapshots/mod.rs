//! snapshots (to be written).
