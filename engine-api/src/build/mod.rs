//! The client's half of `berth build`: the build context, read and filtered here
//! so that what `.dockerignore` leaves out never leaves the machine.
pub mod client;
pub mod context;
pub mod ignore;
pub mod pipe;

pub use client::{BuildEvent, BuildPrune, BuildSpec, Builder, ContextSource};
pub use context::{ignore_rules, write_tar, ContextError};
pub use ignore::{path_matches, Ignore, IgnoreError};
