//! `linux.sysctl`, `hostname` and `domainname`, set from inside the container's
//! namespaces (after pivot_root, through the container's own /proc).
use super::execve::InitError;
use std::collections::HashMap;
use std::path::PathBuf;

/// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`.
pub fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

pub fn apply(map: &HashMap<String, String>) -> Result<(), InitError> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        std::fs::write(sysctl_path(key), &map[key]).map_err(|source| InitError::Sysctl {
            key: key.clone(),
            source,
        })?;
    }
    Ok(())
}

pub fn set_names(
    hostname: Option<&str>,
    domainname: Option<&str>,
    uts: bool,
) -> Result<(), InitError> {
    if let Some(h) = hostname.filter(|h| !h.is_empty()) {
        if !uts {
            return Err(InitError::NoUts { field: "hostname" });
        }
        nix::unistd::sethostname(h).map_err(|source| InitError::Sys {
            step: "hostname",
            source,
        })?;
    }
    if let Some(d) = domainname.filter(|d| !d.is_empty()) {
        if !uts {
            return Err(InitError::NoUts {
                field: "domainname",
            });
        }
        // SAFETY: setdomainname reads len bytes from a buffer we own.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } < 0 {
            return Err(InitError::Sys {
                step: "domainname",
                source: nix::Error::last(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_key_to_path() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
    }
}
