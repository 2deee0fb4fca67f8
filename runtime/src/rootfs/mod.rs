//! The container's root filesystem, set up inside its new mount namespace.
//!
//! Call order (from `process/` init, in the child):
//! 1. [`prepare`] — before pivot_root: root propagation, bind the rootfs onto itself,
//!    every `spec.mounts` entry (all options and propagation flags), default devices and
//!    `linux.devices`, /dev symlinks (fd, stdin, stdout, stderr, ptmx), /dev/pts.
//! 2. createContainer hooks run here (by the caller).
//! 3. [`pivot`] — pivot_root into the rootfs (or chroot/MS_MOVE when `no_pivot`).
//! 4. [`finish`] — after pivot_root: masked paths, readonly paths, `rootfsPropagation`,
//!    readonly root remount.
//!
//! Every path from the spec is resolved inside the rootfs without following symlinks
//! out of it.
use oci_spec::runtime::Spec;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("rootfs: {0}")]
    Unimplemented(&'static str),
}

/// Options that come from the command line rather than from config.json.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootfsOptions {
    /// runc's `--no-pivot`: use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
}

/// Step 1: mounts, devices and symlinks under `rootfs` (absolute, canonical path).
pub fn prepare(_spec: &Spec, _rootfs: &Path, _opts: RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::Unimplemented("prepare"))
}

/// Step 3: make `rootfs` the process's `/`.
pub fn pivot(_rootfs: &Path, _opts: RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::Unimplemented("pivot"))
}

/// Step 4: masked/readonly paths, rootfs propagation, readonly root.
pub fn finish(_spec: &Spec) -> Result<(), RootfsError> {
    Err(RootfsError::Unimplemented("finish"))
}
