//! The Dockerfile builder: `dockerfile/` reads the file; the planner, executor and
//! step cache build on it (DESIGN.md, "Builder").
pub mod dockerfile;
pub mod plan;
