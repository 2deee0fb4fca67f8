//! `process.rlimits`.
use oci_spec::runtime::PosixRlimit;

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    #[error("rlimits: {0}")]
    Unimplemented(&'static str),
}

pub fn apply(_rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    Err(RlimitError::Unimplemented("apply"))
}
