//! The six hook kinds of the runtime spec: run with the container state on stdin,
//! each with its optional timeout.
use oci_spec::runtime::Hook;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hooks: {0}")]
    Unimplemented(&'static str),
}

/// Run `hooks` in order, writing `state_json` (the container's state, runtime-spec
/// "State" JSON) to each one's stdin. Stops at the first failure.
pub fn run(_hooks: &[Hook], _state_json: &[u8]) -> Result<(), HookError> {
    Err(HookError::Unimplemented("run"))
}
