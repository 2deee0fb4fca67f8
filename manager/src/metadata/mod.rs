//! metadata (to be written).
