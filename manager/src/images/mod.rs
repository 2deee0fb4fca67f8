//! images (to be written).
