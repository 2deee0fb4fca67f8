//! tasks (to be written).
