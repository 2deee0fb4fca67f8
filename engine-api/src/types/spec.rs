//! What to create: docker's Config + HostConfig as typed values. Each option
//! has the type its meaning asks for (a byte size, a CPU count, a policy), so
//! a client cannot send what the daemon would have to guess at; the text forms
//! users type (`64m`, `1.5`, `on-failure:3`, `container:web`) parse here, once.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// What to create (docker's Config + HostConfig).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// `None`: the daemon picks a random name.
    pub name: Option<String>,
    pub image: String,
    /// `Some` replaces the image's entrypoint (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's cmd when not empty.
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `None`: the image's.
    pub working_dir: Option<String>,
    /// `None`: the image's.
    pub user: Option<String>,
    /// `None`: the first 12 characters of the ID.
    pub hostname: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub mounts: Vec<Mount>,
    pub resources: Resources,
    pub restart_policy: RestartPolicy,
    pub read_only: bool,
    pub init: bool,
    /// Name or number; `None`: the image's, else SIGTERM.
    pub stop_signal: Option<String>,
    /// Seconds; `None`: the default (10).
    pub stop_timeout: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub network_mode: NetworkMode,
    pub auto_remove: bool,
    /// Size of `/dev/shm`; `None`: docker's default (64 MiB).
    pub shm_size: Option<ByteSize>,
    pub security: super::Security,
    /// `None`: the image's check, if any. `Some` overrides it field by field
    /// (docker's rule: a zero field inherits); [`super::HealthConfig::none`]
    /// disables it.
    pub healthcheck: Option<super::HealthConfig>,
}

/// A mount to set up (`-v`, `--tmpfs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    /// Volume name (empty: anonymous) or host path of a bind; unused for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// Only for [`MountKind::Tmpfs`].
    pub tmpfs: TmpfsOptions,
}

/// docker's `--tmpfs PATH:OPTIONS`: the mount is `noexec,nosuid,nodev`
/// unless `exec`, `suid` or `dev` say otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TmpfsOptions {
    pub size: Option<ByteSize>,
    /// Permission bits of the mount's root (e.g. 0o1777).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub exec: bool,
    pub suid: bool,
    pub dev: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tmpfs option {option:?}: {why}")]
pub struct InvalidTmpfsOption {
    pub option: String,
    pub why: &'static str,
}

impl Mount {
    /// docker's `--tmpfs PATH[:OPTIONS]`, where OPTIONS may also hold `ro`/`rw`.
    pub fn tmpfs(arg: &str) -> Result<Mount, InvalidTmpfsOption> {
        let (target, opts) = arg.split_once(':').unwrap_or((arg, ""));
        let mut read_only = false;
        let mut rest = Vec::new();
        for o in opts.split(',') {
            match o {
                "ro" => read_only = true,
                "rw" => read_only = false,
                o => rest.push(o),
            }
        }
        Ok(Mount {
            kind: MountKind::Tmpfs,
            source: String::new(),
            target: target.to_string(),
            read_only,
            tmpfs: rest.join(",").parse()?,
        })
    }
}

impl FromStr for TmpfsOptions {
    type Err = InvalidTmpfsOption;

    /// `size=64m,mode=1777,uid=1000,gid=1000,exec,nosuid,ro`, comma-separated.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut o = TmpfsOptions::default();
        for opt in s.split(',').filter(|x| !x.is_empty()) {
            let bad = |why| InvalidTmpfsOption {
                option: opt.to_string(),
                why,
            };
            match opt.split_once('=') {
                Some(("size", v)) => {
                    o.size = Some(v.parse().map_err(|_| bad("not a size (e.g. 64m)"))?)
                }
                Some(("mode", v)) => {
                    let m = u32::from_str_radix(v, 8).map_err(|_| bad("not an octal mode"))?;
                    if m > 0o7777 {
                        return Err(bad("a mode is at most 7777"));
                    }
                    o.mode = Some(m);
                }
                Some(("uid", v)) => o.uid = Some(v.parse().map_err(|_| bad("not a uid"))?),
                Some(("gid", v)) => o.gid = Some(v.parse().map_err(|_| bad("not a gid"))?),
                Some(_) => return Err(bad("use size, mode, uid or gid")),
                None => match opt {
                    "exec" => o.exec = true,
                    "noexec" => o.exec = false,
                    "suid" => o.suid = true,
                    "nosuid" => o.suid = false,
                    "dev" => o.dev = true,
                    "nodev" => o.dev = false,
                    _ => return Err(bad("use exec, noexec, suid, nosuid, dev or nodev")),
                },
            }
        }
        Ok(o)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}

impl MountKind {
    /// docker's names ("volume", "bind", "tmpfs").
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// cgroup limits; `None` means no limit (the kernel's default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub memory: Option<ByteSize>,
    pub cpus: Option<NanoCpus>,
    /// Relative CPU weight (docker's default weight is 1024).
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<u64>,
}

/// docker's restart policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// docker's name ("no", "on-failure", "always", "unless-stopped").
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => max_retries,
            _ => 0,
        }
    }
}

/// `--restart` text that is not a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestartPolicyError {
    #[error(
        "invalid restart policy {0}: use no, always, unless-stopped or on-failure[:max-retries]"
    )]
    Unknown(String),
    #[error("invalid restart policy: maximum retry count must be an integer")]
    BadCount,
    #[error("invalid restart policy: {0}: only on-failure takes a retry count")]
    CountNotAllowed(String),
}

impl FromStr for RestartPolicy {
    type Err = RestartPolicyError;

    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: match count {
                    Some(c) => c.parse().map_err(|_| RestartPolicyError::BadCount)?,
                    None => 0,
                },
            },
            other => return Err(RestartPolicyError::Unknown(other.to_string())),
        };
        if count.is_some() && !matches!(policy, RestartPolicy::OnFailure { .. }) {
            return Err(RestartPolicyError::CountNotAllowed(name.to_string()));
        }
        Ok(policy)
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::OnFailure { max_retries } if *max_retries > 0 => {
                write!(f, "on-failure:{max_retries}")
            }
            p => f.write_str(p.name()),
        }
    }
}

/// docker's `--network`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// The daemon's default network.
    #[default]
    Default,
    None,
    Host,
    Bridge,
    /// Share the network namespace of another container (`container:NAME|ID`).
    Container(String),
    /// A user-defined network, by name or ID.
    Network(String),
}

impl NetworkMode {
    /// docker's text ("" for the default).
    pub fn as_string(&self) -> String {
        match self {
            NetworkMode::Default => String::new(),
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge => "bridge".into(),
            NetworkMode::Container(c) => format!("container:{c}"),
            NetworkMode::Network(n) => n.clone(),
        }
    }
}

impl FromStr for NetworkMode {
    type Err = InvalidNetworkMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "default" => NetworkMode::Default,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "bridge" => NetworkMode::Bridge,
            s => match s.strip_prefix("container:") {
                Some("") => return Err(InvalidNetworkMode(s.to_string())),
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Network(s.to_string()),
            },
        })
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Default => f.write_str("default"),
            m => f.write_str(&m.as_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid network mode {0:?}: use none, host, bridge, container:NAME or a network name")]
pub struct InvalidNetworkMode(pub String);

/// A size in bytes; parses docker's units (`512k`, `64m`, `1.5g`, `1t`, with
/// an optional trailing `b`; binary multiples, as docker's `RAMInBytes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size: '{0}' (use a positive number with an optional unit: b, k, m, g, t, e.g. 64m)"
)]
pub struct InvalidSize(pub String);

impl FromStr for ByteSize {
    type Err = InvalidSize;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidSize(s.to_string());
        let l = s.trim().to_ascii_lowercase();
        let l = l.strip_suffix('b').unwrap_or(&l);
        let (num, shift) = match l.char_indices().last() {
            Some((i, 'k')) => (&l[..i], 10),
            Some((i, 'm')) => (&l[..i], 20),
            Some((i, 'g')) => (&l[..i], 30),
            Some((i, 't')) => (&l[..i], 40),
            _ => (l, 0),
        };
        // Digits and one dot only: no sign, no exponent, no "inf".
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        let bytes = n * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(bad());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// CPUs in billionths (docker's `NanoCpus`): `--cpus 1.5` is 1_500_000_000.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NanoCpus(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CPU count: '{0}' (use a positive decimal number, e.g. 0.5 or 2)")]
pub struct InvalidCpus(pub String);

impl FromStr for NanoCpus {
    type Err = InvalidCpus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidCpus(s.to_string());
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(bad());
        }
        let n: f64 = t.parse().map_err(|_| bad())?;
        let nano = (n * 1e9).round();
        if !nano.is_finite() || nano >= u64::MAX as f64 {
            return Err(bad());
        }
        Ok(NanoCpus(nano as u64))
    }
}

impl fmt::Display for NanoCpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0 as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!("64m".parse::<ByteSize>().unwrap().0, 64 << 20);
        assert_eq!("1g".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("1.5k".parse::<ByteSize>().unwrap().0, 1536);
        assert_eq!("512kb".parse::<ByteSize>().unwrap().0, 512 << 10);
        assert_eq!("100".parse::<ByteSize>().unwrap().0, 100);
        for bad in [
            "lots",
            "-5m",
            "",
            "m",
            "1e3",
            "inf",
            "99999999999999999999t",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tmpfs_options_parse() {
        let o: TmpfsOptions = "size=1m,mode=1700,uid=5,exec,nodev".parse().unwrap();
        assert_eq!(o.size, Some(ByteSize(1 << 20)));
        assert_eq!(o.mode, Some(0o1700));
        assert_eq!(o.uid, Some(5));
        assert!(o.exec && !o.dev && !o.suid);
        assert!("mode=8000".parse::<TmpfsOptions>().is_err());
        assert!("mode=77777".parse::<TmpfsOptions>().is_err());
        assert!("size=lots".parse::<TmpfsOptions>().is_err());
        assert!("bogus".parse::<TmpfsOptions>().is_err());
        assert!("nr_inodes=5".parse::<TmpfsOptions>().is_err());
        let m = Mount::tmpfs("/x:size=1m,ro,mode=1700").unwrap();
        assert_eq!((m.target.as_str(), m.read_only), ("/x", true));
        assert_eq!(m.tmpfs.mode, Some(0o1700));
        assert_eq!(Mount::tmpfs("/y").unwrap().tmpfs, TmpfsOptions::default());
    }

    #[test]
    fn cpus_parse() {
        assert_eq!("1.5".parse::<NanoCpus>().unwrap().0, 1_500_000_000);
        assert_eq!("0.01".parse::<NanoCpus>().unwrap().0, 10_000_000);
        assert!("-1".parse::<NanoCpus>().is_err());
        assert!("x".parse::<NanoCpus>().is_err());
    }

    #[test]
    fn restart_policies_parse() {
        assert_eq!("no".parse(), Ok(RestartPolicy::No));
        assert_eq!(
            "on-failure:3".parse(),
            Ok(RestartPolicy::OnFailure { max_retries: 3 })
        );
        assert_eq!("unless-stopped".parse(), Ok(RestartPolicy::UnlessStopped));
        assert_eq!(
            "on-failure:x".parse::<RestartPolicy>(),
            Err(RestartPolicyError::BadCount)
        );
        assert!(matches!(
            "always:2".parse::<RestartPolicy>(),
            Err(RestartPolicyError::CountNotAllowed(_))
        ));
        assert!(matches!(
            "sometimes".parse::<RestartPolicy>(),
            Err(RestartPolicyError::Unknown(_))
        ));
        assert_eq!(
            RestartPolicy::OnFailure { max_retries: 2 }.to_string(),
            "on-failure:2"
        );
    }

    #[test]
    fn network_modes_parse() {
        assert_eq!("".parse(), Ok(NetworkMode::Default));
        assert_eq!("host".parse(), Ok(NetworkMode::Host));
        assert_eq!(
            "container:web".parse(),
            Ok(NetworkMode::Container("web".into()))
        );
        assert_eq!("mynet".parse(), Ok(NetworkMode::Network("mynet".into())));
        assert!("container:".parse::<NetworkMode>().is_err());
        assert_eq!(
            NetworkMode::Container("x".into()).as_string(),
            "container:x"
        );
    }
}
