//! Seccomp filters from `linux.seccomp`, compiled with seccompiler. Compiled in the
//! runtime before clone (errors surface early and name the field), installed in the
//! child as the last step before exec.
use oci_spec::runtime::LinuxSeccomp;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: {0}")]
    Unimplemented(&'static str),
}

/// A filter ready to install.
#[derive(Debug, Clone)]
pub struct Filter {}

pub fn compile(_spec: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    Err(SeccompError::Unimplemented("compile"))
}

pub fn install(_filter: &Filter) -> Result<(), SeccompError> {
    Err(SeccompError::Unimplemented("install"))
}
