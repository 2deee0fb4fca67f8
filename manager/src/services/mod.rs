//! services (to be written).
