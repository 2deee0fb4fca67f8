//! The registry part of an image reference, as docker splits it: the first
//! component names a registry when it has a '.' or a ':', is `localhost`, or has an
//! upper-case letter; otherwise the image is on docker.io. The daemon parses the
//! whole reference (and says what is wrong with it); a client needs only this
//! much to pick the credentials to send.

/// docker.io, as docker names it in credentials.
pub const DOCKER_HUB: &str = "docker.io";

/// The registry host[:port] of `reference`.
pub fn registry_host(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            match first {
                "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
                f => f.to_string(),
            }
        }
        _ => DOCKER_HUB.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_of_references() {
        assert_eq!(registry_host("busybox"), "docker.io");
        assert_eq!(registry_host("me/app:1"), "docker.io");
        assert_eq!(registry_host("localhost:5000/a/b"), "localhost:5000");
        assert_eq!(
            registry_host("127.0.0.1:41000/x@sha256:00"),
            "127.0.0.1:41000"
        );
        assert_eq!(registry_host("index.docker.io/me/app"), "docker.io");
    }
}
