//! volumes (to be written).
