//! `--change` instructions of `import` and `commit`: the Dockerfile subset
//! docker applies to an image's run config.

use super::config::ImageConfig;
use super::{Error, Result};

/// Applies one `docker import --change` instruction.
pub(super) fn apply_change(c: &mut ImageConfig, change: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidChange {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .map(|(a, b)| (a, b.trim()))
        .unwrap_or((change, ""));
    if rest.is_empty() {
        return Err(bad("missing argument"));
    }
    let exec_form = |rest: &str| -> Result<Vec<String>> {
        if rest.starts_with('[') {
            serde_json::from_str::<Vec<String>>(rest)
                .map_err(|e| bad(&format!("invalid JSON array: {e}")))
        } else {
            Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(exec_form(rest)?),
        "ENTRYPOINT" => c.entrypoint = Some(exec_form(rest)?),
        "WORKDIR" => c.working_dir = rest.to_string(),
        "USER" => c.user = rest.to_string(),
        "STOPSIGNAL" => c.stop_signal = Some(rest.to_string()),
        "ENV" => {
            for (k, v) in key_values(rest).map_err(|r| bad(&r))? {
                let prefix = format!("{k}=");
                c.env.retain(|e| !e.starts_with(&prefix));
                c.env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            for (k, v) in key_values(rest).map_err(|r| bad(&r))? {
                c.labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                c.exposed_ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| bad(&format!("invalid JSON array: {e}")))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in vols {
                c.volumes.insert(v, serde_json::json!({}));
            }
        }
        _ => {
            return Err(bad(
                "supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
}

/// `k=v k2="v 2"` or the legacy `k v with spaces`.
fn key_values(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut k = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            k.push(c);
        }
        let mut v = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some(_), '\\') => {
                    if let Some(n) = chars.next() {
                        v.push(n);
                    }
                }
                (None, c) if c.is_whitespace() => break,
                (_, c) => v.push(c),
            }
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("invalid key {k:?}"));
        }
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_docker_import() {
        let mut c = ImageConfig::default();
        for ch in [
            r#"CMD ["sh"]"#,
            "ENV PATH=/bin:/usr/bin",
            r#"ENV A="x y" B=z"#,
            "ENV LEGACY some value",
            "WORKDIR /root",
            "EXPOSE 80 53/udp",
            "LABEL org.x=1",
            "ENTRYPOINT echo hi",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            c.env,
            vec!["PATH=/bin:/usr/bin", "A=x y", "B=z", "LEGACY=some value"]
        );
        assert_eq!(c.working_dir, "/root");
        assert!(c.exposed_ports.contains_key("80/tcp") && c.exposed_ports.contains_key("53/udp"));
        assert_eq!(c.labels.get("org.x").map(String::as_str), Some("1"));
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert!(apply_change(&mut c, "RUN x").is_err());
        assert!(apply_change(&mut c, "CMD [bad").is_err());
    }
}
