//! Namespaces: clone flags from the spec, setns for `path` namespaces, uid/gid maps.
