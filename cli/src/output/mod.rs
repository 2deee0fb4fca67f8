//! Output: docker-style tables, a Go-template subset for `--format`, human
//! units, and the terminal (raw mode, detach keys) for `-it`.

pub mod build_progress;
pub mod format;
pub mod progress;
pub mod table;
pub mod term;
pub mod units;
