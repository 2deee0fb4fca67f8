//! `RUN --mount=…`: BuildKit's mounts, each a mount of the RUN's container that is
//! not part of the step's layer.
//!
//! - `bind` (the default type): a path of the context, or of another stage or image
//!   (`from=`), read-only unless `rw`, and then the writes go to a copy and are lost;
//! - `cache`: a directory that outlives the build, kept by `id` (the target when no
//!   id is given) under `<root>/build/cache-mounts`;
//! - `tmpfs`: an empty tmpfs;
//! - `secret`: a file given with `berth build --secret id=…`, at
//!   `/run/secrets/<id>` unless `target`, or in an environment variable (`env=`); never
//!   in a layer, and not part of the cache key.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
}

/// `sharing=` of a cache mount: concurrent builds use it at once (`shared`, also
/// what berth does for `private`) or one at a time (`locked`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub kind: Kind,
    /// Absolute or relative to the stage's WORKDIR (resolved by the caller); for a
    /// secret with only `env=`, empty.
    pub target: String,
    /// Path in the context or the `from` image; `.` by default.
    pub source: String,
    pub from: Option<String>,
    pub rw: bool,
    pub id: String,
    pub sharing: Sharing,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub required: bool,
    pub env: Option<String>,
}

/// Parse one `--mount` value (comma-separated `key=value`; `ro`/`rw`/`required`
/// may stand alone).
pub fn parse(raw: &str) -> Result<RunMount, String> {
    let mut kind = Kind::Bind;
    let mut fields = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"')),
            ),
            None => (part.to_ascii_lowercase(), None),
        };
        if k == "type" {
            kind = match v.unwrap_or("") {
                "bind" => Kind::Bind,
                "cache" => Kind::Cache,
                "tmpfs" => Kind::Tmpfs,
                "secret" => Kind::Secret,
                "ssh" => {
                    return Err(
                        "--mount=type=ssh: SSH agent forwarding is not supported by berth yet"
                            .into(),
                    )
                }
                other => {
                    return Err(format!(
                        "--mount=type={other}: unknown mount type; use bind, cache, tmpfs or secret"
                    ))
                }
            };
        } else {
            fields.push((k, v));
        }
    }
    let mut m = RunMount {
        kind,
        target: String::new(),
        source: String::new(),
        from: None,
        rw: kind == Kind::Cache,
        id: String::new(),
        sharing: Sharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: false,
        env: None,
    };
    let flag = |k: &str, v: Option<&str>| -> Result<bool, String> {
        match v.map(str::to_ascii_lowercase).as_deref() {
            None | Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(other) => Err(format!("--mount {k}={other}: expected true or false")),
        }
    };
    let number = |k: &str, v: Option<&str>| -> Result<u32, String> {
        v.and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("--mount {k}=: expected a number"))
    };
    for (k, v) in fields {
        let text = || {
            v.map(str::to_string)
                .ok_or_else(|| format!("--mount {k}: needs a value ({k}=…)"))
        };
        match k.as_str() {
            "target" | "dst" | "destination" => m.target = text()?,
            "source" | "src" => m.source = text()?,
            "from" => m.from = Some(text()?),
            "ro" | "readonly" => m.rw = !flag(&k, v)?,
            "rw" | "readwrite" => m.rw = flag(&k, v)?,
            "id" => m.id = text()?,
            "sharing" => {
                m.sharing = match text()?.as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    other => {
                        return Err(format!(
                            "--mount sharing={other}: use shared, private or locked"
                        ))
                    }
                }
            }
            "mode" => {
                let t = text()?;
                m.mode = Some(
                    u32::from_str_radix(&t, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| format!("--mount mode={t}: not an octal mode"))?,
                )
            }
            "uid" => m.uid = Some(number(&k, v)?),
            "gid" => m.gid = Some(number(&k, v)?),
            "size" => m.size = Some(size(&text()?)?),
            "required" => m.required = flag(&k, v)?,
            "env" => m.env = Some(text()?),
            other => return Err(format!("--mount: unknown option {other:?}")),
        }
    }
    match m.kind {
        Kind::Secret => {
            if m.id.is_empty() {
                m.id = m.target.rsplit('/').next().unwrap_or_default().to_string();
            }
            if m.id.is_empty() {
                return Err("--mount=type=secret: needs id= or target=".into());
            }
            if m.target.is_empty() && m.env.is_none() {
                m.target = format!("/run/secrets/{}", m.id);
            }
        }
        _ if m.target.is_empty() => {
            return Err("--mount: needs target= (where the mount goes)".into());
        }
        Kind::Cache if m.id.is_empty() => m.id = m.target.clone(),
        _ => {}
    }
    if m.kind != Kind::Bind && m.kind != Kind::Cache && m.from.is_some() {
        return Err("--mount from= is only for bind and cache mounts".into());
    }
    if m.kind == Kind::Cache && m.from.is_some() {
        return Err("--mount=type=cache,from=: seeding a cache from another stage is not supported by berth yet".into());
    }
    Ok(m)
}

/// `size=` of a tmpfs: bytes, or with k/m/g (docker's units, powers of 1024).
fn size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("--mount size={s}: expected a size such as 64m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkit_defaults() {
        let m = parse("target=/src").unwrap();
        assert_eq!((m.kind, m.rw, m.source.as_str()), (Kind::Bind, false, ""));
        let m = parse("type=cache,target=/root/.cache").unwrap();
        assert_eq!(
            (m.kind, m.rw, m.id.as_str()),
            (Kind::Cache, true, "/root/.cache")
        );
        let m = parse("type=cache,id=go,target=/c,sharing=locked,ro").unwrap();
        assert_eq!(
            (m.id.as_str(), m.sharing, m.rw),
            ("go", Sharing::Locked, false)
        );
        let m = parse("type=secret,id=tok").unwrap();
        assert_eq!(m.target, "/run/secrets/tok");
        let m = parse("type=secret,target=/etc/key,required,mode=0440,uid=5").unwrap();
        assert_eq!(
            (m.id.as_str(), m.required, m.mode, m.uid),
            ("key", true, Some(0o440), Some(5))
        );
        let m = parse("type=secret,id=t,env=TOKEN").unwrap();
        assert_eq!((m.target.as_str(), m.env.as_deref()), ("", Some("TOKEN")));
        let m = parse("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
        let m = parse("type=bind,source=sub,target=/s,from=builder,rw").unwrap();
        assert_eq!(
            (m.from.as_deref(), m.rw, m.source.as_str()),
            (Some("builder"), true, "sub")
        );
    }

    #[test]
    fn bad_mounts_say_what_is_wrong() {
        for (raw, says) in [
            ("type=cache", "target"),
            ("type=nfs,target=/x", "unknown mount type"),
            ("type=ssh", "SSH"),
            ("target=/x,color=red", "color"),
            ("type=cache,target=/x,mode=999", "octal"),
            ("type=tmpfs,target=/t,size=lots", "size"),
            ("type=cache,target=/x,sharing=everyone", "sharing"),
            ("type=secret", "id="),
        ] {
            let e = parse(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }
}
