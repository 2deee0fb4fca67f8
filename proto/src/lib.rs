//! Generated gRPC code for berth's two APIs. Nothing hand-written lives here
//! beyond the `include_proto!` lines: domain types belong to the crates that
//! use them (STYLE.md, guideline 6).
