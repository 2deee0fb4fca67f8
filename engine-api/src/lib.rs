//! Typed client of berthd.
