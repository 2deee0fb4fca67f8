//! Image references, parsed as docker parses them and normalised to docker's
//! familiar form.
//!
//! `[HOST[:PORT]/]PATH[:TAG][@sha256:HEX]`: the first component is a registry when
//! it has a '.' or a ':', is `localhost`, or has an upper-case letter; otherwise the
//! registry is `docker.io` and a one-component path gets `library/`. Familiar form
//! drops `docker.io/` and `docker.io/library/`: `docker.io/library/busybox:1` →
//! `busybox:1`; `localhost:5000/a/b` → `localhost:5000/a/b:latest`.
//!
//! [`ImageRef`] is any reference (tag, digest, both, neither); [`Reference`] is the
//! `name:tag` the tag table is keyed by (digest references are not tags).

use super::Error;
use crate::content::Digest;

/// The registry of names without one.
pub const DOCKER_HUB: &str = "docker.io";
/// Longest repository name, registry included (docker's `NameTotalLengthMax`).
const NAME_MAX: usize = 255;
/// Longest tag.
const TAG_MAX: usize = 128;

/// Any image reference: registry, repository path, and an optional tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a reference the way docker's `ParseNormalizedNamed` does; a bad one is an
    /// error saying which part is wrong.
    pub fn parse(s: &str) -> Result<ImageRef, Error> {
        let bad = |reason: String| Error::InvalidReference {
            reference: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty reference".into()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let digest = d.parse::<Digest>().map_err(|_| {
                    bad(format!(
                        "digest {d:?} is not sha256:<64 lowercase hex digits>"
                    ))
                })?;
                (r, Some(digest))
            }
            None => (s, None),
        };
        // The tag is after the last ':' that follows the last '/' (a ':' before is a port).
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad(format!(
                    "tag {t:?}: up to {TAG_MAX} of [A-Za-z0-9_.-], starting with a letter, digit or '_'"
                )));
            }
        }
        if name.is_empty() {
            return Err(bad("empty repository name".into()));
        }
        if name.len() > NAME_MAX {
            return Err(bad(format!(
                "repository name is {} characters, at most {NAME_MAX} are allowed",
                name.len()
            )));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, remote))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                if !valid_host(first) {
                    return Err(bad(format!(
                        "registry {first:?}: expected HOST[:PORT] with HOST of dot-separated [A-Za-z0-9-] labels"
                    )));
                }
                let domain = if first == "index.docker.io" {
                    DOCKER_HUB
                } else {
                    first
                };
                (domain.to_string(), remote.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase".into()));
        }
        if let Some(c) = path.split('/').find(|c| !valid_path_component(c)) {
            return Err(bad(format!(
                "repository path component {c:?}: lowercase [a-z0-9] separated by '.', '_', '__' or '-'"
            )));
        }
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        Ok(ImageRef {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path on the registry (`library/busybox`, `a/b`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The familiar repository name (`busybox`, `me/app`, `localhost:5000/a/b`).
    pub fn name(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The tag reference: the given tag, or `latest` when neither tag nor digest
    /// was given; `None` for a digest-only reference.
    pub fn tag_ref(&self) -> Option<Reference> {
        let tag = match (&self.tag, &self.digest) {
            (Some(t), _) => t.clone(),
            (None, None) => "latest".to_string(),
            (None, Some(_)) => return None,
        };
        Some(Reference {
            name: self.name(),
            tag,
        })
    }

    /// What to ask the registry for: the digest when given, else the tag (or `latest`).
    pub fn registry_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `name@digest`, docker's repo-digest form.
    pub fn repo_digest(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.name())
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        if self.tag.is_none() && self.digest.is_none() {
            f.write_str(":latest")?;
        }
        Ok(())
    }
}

/// A normalised `name:tag`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    name: String,
    tag: String,
}

impl Reference {
    /// Parses and normalises a tag reference (`latest` when no tag is given).
    pub fn parse(s: &str) -> Result<Reference, Error> {
        let r = ImageRef::parse(s)?;
        if r.digest.is_some() {
            return Err(Error::InvalidReference {
                reference: s.to_string(),
                reason: "a digest reference is not a tag; name a tag".into(),
            });
        }
        r.tag_ref().ok_or_else(|| Error::InvalidReference {
            reference: s.to_string(),
            reason: "no tag".into(),
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

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// `host[:port]`: dot-separated labels of [A-Za-z0-9-] not starting or ending with '-',
/// or a bracketed IPv6 address.
fn valid_host(c: &str) -> bool {
    let (host, port) = match c.rfind(':') {
        Some(i) if !c[i..].contains(']') => (&c[..i], Some(&c[i + 1..])),
        _ => (c, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return port_ok && v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    port_ok
        && host.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
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
    fn any_reference_splits_like_docker() {
        let p = |s: &str| ImageRef::parse(s).unwrap();
        let d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let r = p("busybox");
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("docker.io", "library/busybox", None)
        );
        assert_eq!(r.tag_ref().unwrap().to_string(), "busybox:latest");
        let r = p("localhost:5000/a/b:v1");
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("localhost:5000", "a/b", Some("v1"))
        );
        assert_eq!(r.name(), "localhost:5000/a/b");
        let r = p(&format!("127.0.0.1:5000/x@{d}"));
        assert_eq!(r.digest().unwrap().as_str(), d);
        assert!(r.tag_ref().is_none());
        assert_eq!(r.registry_reference(), d);
        let r = p(&format!("index.docker.io/me/app:1@{d}"));
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("docker.io", "me/app", Some("1"))
        );
        assert_eq!(r.repo_digest(r.digest().unwrap()), format!("me/app@{d}"));
        assert_eq!(p("Registry/x").domain(), "Registry");
        assert_eq!(p("x/a--b__c.d").path(), "x/a--b__c.d");
        assert_eq!(p("[::1]:5000/x").domain(), "[::1]:5000");
        let err = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert!(
            err("busybox@sha256:abc").contains("digest"),
            "{}",
            err("busybox@sha256:abc")
        );
        assert!(err("ex ample.com/x").contains("registry"));
        assert!(err("a/b c").contains("component"));
        assert!(err("a/B").contains("lowercase"));
        assert!(err(&format!("x:{}", "t".repeat(129))).contains("tag"));
        assert!(err(&"a".repeat(256)).contains("255"));
        assert!(err("a..b").contains("component"));
        assert!(err("a___b").contains("component"));
        assert!(err("-h.com/x").contains("registry"));
        assert!(Reference::parse(&format!("x@{d}")).is_err());
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
