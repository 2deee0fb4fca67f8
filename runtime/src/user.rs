//! The process identity: `process.user` (uid, gid, additionalGids, umask).
use oci_spec::runtime::User;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user: {0}")]
    Unimplemented(&'static str),
}

/// setgroups, setgid, setuid (keeping capabilities across the switch so
/// `capabilities::apply` can set them afterwards), umask.
pub fn apply(_user: &User) -> Result<(), UserError> {
    Err(UserError::Unimplemented("apply"))
}
