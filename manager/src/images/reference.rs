//! Image references, normalised to docker's familiar form.
//!
//! `busybox` → `busybox:latest`; `docker.io/library/busybox:1` → `busybox:1`;
//! `localhost:5000/a/b` → `localhost:5000/a/b:latest`. Digest references
//! (`name@sha256:…`) are not tags and are refused here.

use super::Error;

/// A normalised `name:tag`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    name: String,
    tag: String,
}

impl Reference {
    /// Parses and normalises a tag reference.
    pub fn parse(s: &str) -> Result<Reference, Error> {
        let bad = |reason: &str| Error::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() || s.len() > 255 {
            return Err(bad("must be 1 to 255 characters"));
        }
        if s.contains('@') {
            return Err(bad("digest references are not tags"));
        }
        // The tag is after the last ':' that follows the last '/' (a ':' before is a port).
        let last_slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], &s[last_slash + i + 1..]),
            None => (s, "latest"),
        };
        if tag.is_empty()
            || tag.len() > 128
            || tag.starts_with(['.', '-'])
            || !tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(bad(
                "a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        let mut name = name;
        for p in ["docker.io/library/", "index.docker.io/library/"] {
            if let Some(rest) = name.strip_prefix(p) {
                name = rest;
            }
        }
        let name = name.strip_prefix("docker.io/").unwrap_or(name);
        if name.is_empty() {
            return Err(bad("empty repository name"));
        }
        let mut comps = name.split('/').peekable();
        let mut first = true;
        while let Some(c) = comps.next() {
            // The first of several components may be a registry host[:port].
            let is_host =
                first && comps.peek().is_some() && (c.contains(['.', ':']) || c == "localhost");
            first = false;
            let ok = if is_host {
                valid_host(c)
            } else {
                valid_path_component(c)
            };
            if !ok {
                return Err(bad(
                    "repository name must be lowercase [a-z0-9] separated by '.', '_', '__' or '-'",
                ));
            }
        }
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// Repository name (`busybox`, `localhost:5000/a/b`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tag (`latest`).
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

/// `host[:port]`: dot-separated labels of [A-Za-z0-9-] not starting or ending with '-'.
fn valid_host(c: &str) -> bool {
    let (host, port) = c.split_once(':').unwrap_or((c, ""));
    let port_ok =
        c.find(':').is_none() || (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && host.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    b.iter()
        .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || matches!(x, b'.' | b'_' | b'-'))
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// docker's `reference=` filter: shell-style glob with `*` and `?`, where `*` does not
/// cross a '/'.
pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(&p[1..], &t[i..])),
            Some(b'?') => !t.is_empty() && t[0] != b'/' && go(&p[1..], &t[1..]),
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_docker() {
        let r = |s: &str| Reference::parse(s).map(|r| r.to_string());
        assert_eq!(r("busybox").unwrap(), "busybox:latest");
        assert_eq!(r("docker.io/library/busybox:1.36").unwrap(), "busybox:1.36");
        assert_eq!(r("docker.io/me/app").unwrap(), "me/app:latest");
        assert_eq!(
            r("localhost:5000/a/b").unwrap(),
            "localhost:5000/a/b:latest"
        );
        assert_eq!(r("localhost:5000/a/b:v2").unwrap(), "localhost:5000/a/b:v2");
        for bad in [
            "",
            "Busybox",
            "a@sha256:00",
            "a:",
            "a:-x",
            "../x",
            "a//b",
            "a/:x",
        ] {
            assert!(r(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn globbing() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/*", "a/b"));
        assert!(glob_match("b?sybox", "busybox"));
    }
}
