//! Safe layer unpacking (placeholder; filled in next).

use std::path::Path;

/// Policy knobs for unpacking a layer.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Create block/char device nodes found in the layer (besides overlay whiteouts).
    /// Off by default: containers get /dev from the runtime, and a device node in an
    /// image is a way to hand a container the host's disks.
    pub allow_devices: bool,
}

/// Why a layer could not be unpacked. Nothing of it is left on disk.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("unpacking is not implemented yet")]
    Unimplemented,
}

pub(super) fn unpack(
    _r: &mut impl std::io::Read,
    _dst: &Path,
    _opts: &UnpackOptions,
) -> Result<u64, UnpackError> {
    Err(UnpackError::Unimplemented)
}
