//! The container's init process: clone into new namespaces, the init sequence in the
//! child, and the channel between runtime and child.
