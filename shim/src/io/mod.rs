//! The container's stdio as the shim holds it: non-blocking fds for pipes and
//! pty masters (`fd`), the json-file log (`log`), attach fan-out (`fanout`),
//! the console socket that brings a pty master (`pty`), and the pumps tying
//! them together (`pump`).

pub mod fanout;
pub mod fd;
pub mod log;
pub mod pty;
pub mod pump;
