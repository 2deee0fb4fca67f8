//! runc's command line (clap structs only) and dispatch to the library. Owned by the
//! runtime core.

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    eprintln!("berth-runtime: not implemented yet");
    1
}
