//! `berth create`, and the run options → ContainerSpec translation `run` shares.

use anyhow::{bail, Context, Result};
use berth_engine_api::{
    Client, ContainerSpec, GoDuration, HealthConfig, Mount, MountKind, Reason, Resources, Security,
};

use crate::args::CreateArgs;

/// `-v` forms: `name:/path[:ro]`, `/host:/path[:ro]`, `/path` (anonymous).
fn parse_volume(v: &str) -> Result<Mount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => bail!("invalid volume specification: '{v}'"),
    };
    let read_only = match mode {
        "" | "rw" | "z" | "Z" => false,
        "ro" => true,
        m if m.split(',').any(|x| x == "ro") => true,
        m if m.split(',').all(|x| matches!(x, "rw" | "z" | "Z")) => false,
        m => bail!("invalid mode: {m}"),
    };
    if !target.starts_with('/') {
        bail!("invalid volume specification: '{v}': the container path must be absolute");
    }
    let kind = if source.starts_with('/') || source.starts_with('.') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    let source = if kind == MountKind::Bind {
        std::fs::canonicalize(source)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| source.to_string())
    } else {
        source.to_string()
    };
    Ok(Mount {
        kind,
        tmpfs: Default::default(),
        source,
        target: target.to_string(),
        read_only,
    })
}

/// `KEY=VALUE`, or `KEY` taken from our environment (dropped when unset).
fn env_entry(e: &str) -> Option<String> {
    if e.contains('=') {
        Some(e.to_string())
    } else {
        std::env::var(e).ok().map(|v| format!("{e}={v}"))
    }
}

/// The one conversion of the CLI boundary: what the user typed to what the
/// engine API takes. Reads `--env-file`s and resolves bind sources here.
impl TryFrom<&CreateArgs> for ContainerSpec {
    type Error = anyhow::Error;

    fn try_from(a: &CreateArgs) -> Result<ContainerSpec> {
        let mut env = Vec::new();
        for f in &a.env_file {
            let text = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                env.extend(env_entry(line));
            }
        }
        env.extend(a.env.iter().filter_map(|e| env_entry(e)));
        let mut mounts = Vec::new();
        for v in &a.volume {
            mounts.push(parse_volume(v)?);
        }
        for t in &a.tmpfs {
            mounts.push(Mount::tmpfs(t).with_context(|| format!("--tmpfs {t}"))?);
        }
        let mut security_opt = Vec::new();
        for o in &a.security_opt {
            security_opt.push(security_opt_value(o)?);
        }
        let mut labels = std::collections::BTreeMap::new();
        for l in &a.label {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            labels.insert(k.to_string(), v.to_string());
        }
        Ok(ContainerSpec {
            name: a.name.clone(),
            image: a.image().to_string(),
            entrypoint: a.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e.clone()]
                }
            }),
            cmd: a.command().to_vec(),
            env,
            working_dir: a.workdir.clone(),
            user: a.user.clone(),
            hostname: a.hostname.clone(),
            tty: a.tty,
            open_stdin: a.interactive,
            mounts,
            resources: Resources {
                memory: a.memory,
                cpus: a.cpus,
                cpu_shares: a.cpu_shares,
                // docker: 0 and -1 both mean unlimited.
                pids_limit: a
                    .pids_limit
                    .and_then(|p| u64::try_from(p).ok())
                    .filter(|p| *p > 0),
            },
            restart_policy: a.restart,
            read_only: a.read_only,
            init: a.init,
            stop_signal: a.stop_signal.clone(),
            stop_timeout: a.stop_timeout,
            labels,
            network_mode: a.network.clone().unwrap_or_default(),
            auto_remove: a.rm,
            shm_size: a.shm_size,
            security: Security {
                privileged: a.privileged,
                cap_add: a.cap_add.clone(),
                cap_drop: a.cap_drop.clone(),
                devices: a.device.clone(),
                device_cgroup_rules: a.device_cgroup_rule.clone(),
                security_opt,
                userns_mode: a.userns.clone(),
            },
            healthcheck: health_config(a)?,
        })
    }
}

/// docker's `--health-*` and `--no-healthcheck` (its CLI's checks and
/// texts): `None` when none is given, so the image's check stays as it is;
/// a zero option inherits the image's value.
fn health_config(a: &CreateArgs) -> Result<Option<HealthConfig>> {
    let given = |d: Option<GoDuration>| d.is_some_and(|d| d != GoDuration::ZERO);
    let any = a.health_cmd.as_deref().is_some_and(|c| !c.is_empty())
        || given(a.health_interval)
        || given(a.health_timeout)
        || given(a.health_start_period)
        || given(a.health_start_interval)
        || a.health_retries.is_some_and(|r| r != 0);
    if a.no_healthcheck {
        if any {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig::none()));
    }
    if !any {
        return Ok(None);
    }
    let duration = |d: Option<GoDuration>, flag: &str| {
        let d = d.unwrap_or_default();
        d.to_std()
            .ok_or_else(|| anyhow::anyhow!("--{flag} cannot be negative"))
    };
    let retries = a.health_retries.unwrap_or(0);
    if retries < 0 {
        bail!("--health-retries cannot be negative");
    }
    Ok(Some(HealthConfig {
        test: match a.health_cmd.as_deref() {
            Some(c) if !c.is_empty() => HealthConfig::shell(c),
            _ => Vec::new(),
        },
        interval: duration(a.health_interval, "health-interval")?,
        timeout: duration(a.health_timeout, "health-timeout")?,
        start_period: duration(a.health_start_period, "health-start-period")?,
        start_interval: duration(a.health_start_interval, "health-start-interval")?,
        retries: u32::try_from(retries).context("--health-retries is too large")?,
    }))
}

/// docker's CLI sends a `seccomp=FILE` profile's content, not its path (the
/// daemon may be elsewhere); every other option goes as written.
fn security_opt_value(o: &str) -> Result<String> {
    let Some((key, value)) = o.split_once(['=', ':']) else {
        return Ok(o.to_string());
    };
    if key != "seccomp" || matches!(value, "unconfined" | "builtin") {
        return Ok(o.to_string());
    }
    let profile = std::fs::read_to_string(value)
        .with_context(|| format!("opening seccomp profile ({value}) failed"))?;
    Ok(format!("seccomp={profile}"))
}

/// Creates the container; prints warnings; returns its ID.
pub async fn create_container(c: &Client, spec: &ContainerSpec) -> Result<String> {
    let r = c.containers().create(spec).await.map_err(|e| {
        let no_image = e.reason() == Reason::NoSuchImage;
        let e = anyhow::Error::from(e);
        let e = if no_image {
            e.context("no registry pulls yet: make the image with `berth image import TAR NAME` or `berth load -i FILE`")
        } else {
            e
        };
        anyhow::Error::from(super::ExitCode(125, e))
    })?;
    for w in r.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(r.id)
}

pub async fn create(c: &Client, a: CreateArgs) -> Result<i32> {
    let spec = ContainerSpec::try_from(&a)
        // docker: a run option it cannot read exits 125, like the daemon's refusals.
        .map_err(|e| anyhow::Error::from(super::ExitCode(125, e)))?;
    let id = create_container(c, &spec).await?;
    println!("{id}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_parse() {
        let m = parse_volume("data:/data:ro").unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.read_only),
            ("volume", "data", true)
        );
        let m = parse_volume("/tmp:/x").unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        let m = parse_volume("/anon").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str()), ("volume", ""));
        assert!(parse_volume("a:b").is_err());
        assert!(parse_volume("a:/b:bogus").is_err());
    }

    fn args(flags: &[&str]) -> CreateArgs {
        use clap::Parser;
        let argv = ["berth", "create"]
            .iter()
            .chain(flags)
            .chain(&["busybox"])
            .map(|s| s.to_string());
        match crate::args::Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(crate::args::Command::Create(a)) => a,
            other => panic!("not a create: {other:?}"),
        }
    }

    #[test]
    fn health_flags_as_dockers() {
        assert_eq!(health_config(&args(&[])).unwrap(), None);
        let h = health_config(&args(&[
            "--health-cmd",
            "test -f /ok",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "test -f /ok"]);
        assert_eq!(h.interval, std::time::Duration::from_millis(200));
        assert_eq!((h.retries, h.timeout), (2, std::time::Duration::ZERO));
        let only_timing = health_config(&args(&["--health-timeout", "1m30s"]))
            .unwrap()
            .unwrap();
        assert!(only_timing.test.is_empty(), "the image's test stays");
        assert_eq!(
            health_config(&args(&["--no-healthcheck"])).unwrap(),
            Some(HealthConfig::none())
        );
        let e = health_config(&args(&["--no-healthcheck", "--health-retries", "1"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--no-healthcheck conflicts with --health-* options"
        );
        let e = health_config(&args(&["--health-interval", "-1s"])).unwrap_err();
        assert_eq!(e.to_string(), "--health-interval cannot be negative");
        let e = health_config(&args(&["--health-retries", "-1"])).unwrap_err();
        assert_eq!(e.to_string(), "--health-retries cannot be negative");
    }
}
