//! containers (to be written).
