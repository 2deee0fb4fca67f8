//! The five capability sets of `process.capabilities`.
use oci_spec::runtime::LinuxCapabilities;

#[derive(Debug, thiserror::Error)]
pub enum CapabilitiesError {
    #[error("capabilities: {0}")]
    Unimplemented(&'static str),
}

/// Drop the bounding set to `caps.bounding`, then set effective, permitted,
/// inheritable and ambient. Called after the uid/gid switch (which must keep caps).
pub fn apply(_caps: &LinuxCapabilities) -> Result<(), CapabilitiesError> {
    Err(CapabilitiesError::Unimplemented("apply"))
}
