//! `berth create`, and the run options → ContainerSpec translation `run` shares.

use anyhow::{anyhow, bail, Context, Result};
use berth_engine_api::{Client, ContainerSpec, Mount};

use crate::args::CreateArgs;

/// Parses docker's memory sizes ("64m", "1g", "512k", bytes).
fn parse_bytes(s: &str) -> Result<i64> {
    let l = s.trim().to_ascii_lowercase();
    let l = l.strip_suffix('b').unwrap_or(&l);
    let (num, mult) = match l.chars().last() {
        Some('k') => (&l[..l.len() - 1], 1i64 << 10),
        Some('m') => (&l[..l.len() - 1], 1 << 20),
        Some('g') => (&l[..l.len() - 1], 1 << 30),
        _ => (l, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("invalid size: '{s}' (use e.g. 64m or 1g)"))?;
    Ok((n * mult as f64) as i64)
}

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
        "bind"
    } else {
        "volume"
    };
    let source = if kind == "bind" {
        std::fs::canonicalize(source)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| source.to_string())
    } else {
        source.to_string()
    };
    Ok(Mount {
        kind: kind.to_string(),
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

pub fn spec_from_args(a: &CreateArgs) -> Result<ContainerSpec> {
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
        mounts.push(Mount {
            kind: "tmpfs".into(),
            source: String::new(),
            target: t.split(':').next().unwrap_or(t).to_string(),
            read_only: false,
        });
    }
    let (restart_policy, restart_max_retries) = match a.restart.split_once(':') {
        Some(("on-failure", n)) => (
            "on-failure".to_string(),
            n.parse().map_err(|_| {
                anyhow!("invalid restart policy: maximum retry count must be an integer")
            })?,
        ),
        Some((p, _)) => bail!("invalid restart policy: {p}: only on-failure takes a retry count"),
        None => (a.restart.clone(), 0),
    };
    let mut labels = std::collections::BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(ContainerSpec {
        name: a.name.clone().unwrap_or_default(),
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
        working_dir: a.workdir.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
        tty: a.tty,
        open_stdin: a.interactive,
        mounts,
        memory_bytes: a
            .memory
            .as_deref()
            .map(parse_bytes)
            .transpose()?
            .unwrap_or(0),
        nano_cpus: a.cpus.map(|c| (c * 1e9) as i64).unwrap_or(0),
        cpu_shares: a.cpu_shares.unwrap_or(0),
        pids_limit: a.pids_limit.filter(|p| *p > 0).unwrap_or(0),
        restart_policy,
        restart_max_retries,
        read_only: a.read_only,
        init: a.init,
        stop_signal: a.stop_signal.clone().unwrap_or_default(),
        stop_timeout: a.stop_timeout,
        labels,
        network_mode: a.network.clone().unwrap_or_default(),
        auto_remove: a.rm,
    })
}

/// Creates the container; prints warnings; returns its ID.
pub async fn create_container(c: &Client, spec: &ContainerSpec) -> Result<String> {
    let r = c.containers().create(spec).await.map_err(|e| {
        let hint = e.is_not_found() && e.to_string().starts_with("No such image");
        let e = anyhow::Error::from(e);
        if hint {
            super::ExitCode(
                125,
                e.context("no registry pulls yet: make the image with `berth image import TAR NAME` or `berth load -i FILE`"),
            )
            .into()
        } else {
            anyhow::Error::from(super::ExitCode(125, e))
        }
    })?;
    for w in r.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(r.id)
}

pub async fn create(c: &Client, a: CreateArgs) -> Result<i32> {
    let spec = spec_from_args(&a)?;
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
        assert_eq!(m.kind, "bind");
        let m = parse_volume("/anon").unwrap();
        assert_eq!((m.kind.as_str(), m.source.as_str()), ("volume", ""));
        assert!(parse_volume("a:b").is_err());
        assert!(parse_volume("a:/b:bogus").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert!(parse_bytes("lots").is_err());
    }
}
