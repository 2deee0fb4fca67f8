//! Registry credentials, where docker keeps them, so that `docker login` and
//! `berth login` are one: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`) — `auths` with base64 `user:password`, or a credential
//! helper (`credsStore` for all registries, `credHelpers` per registry) run as
//! `docker-credential-NAME get|store|erase` with docker's JSON on stdin/stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use berth_engine_api::RegistryAuth;
use serde_json::{json, Map, Value};

/// docker's key for docker.io in `auths` and for helpers.
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// The config file docker reads.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".docker/config.json")
}

/// The key a registry host has in the config (`docker.io` is docker's URL).
pub fn key_of(server: &str) -> String {
    if server == berth_engine_api::DOCKER_HUB {
        HUB_KEY.to_string()
    } else {
        server.to_string()
    }
}

fn read_config() -> Result<Map<String, Value>> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b)
            .with_context(|| format!("{} is not valid JSON", p.display()))?
        {
            Value::Object(m) => Ok(m),
            _ => bail!("{} is not a JSON object", p.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Writes the config atomically (temp file, fsync, rename), mode 0600.
fn write_config(m: &Map<String, Value>) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let p = config_path();
    let dir = p.parent().context("config path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    let bytes = serde_json::to_vec_pretty(&Value::Object(m.clone()))?;
    f.write_all(&bytes)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &p).with_context(|| format!("replacing {}", p.display()))?;
    Ok(())
}

fn helper_for(cfg: &Map<String, Value>, key: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| {
            h.get(key)
                .or_else(|| h.get(key.trim_start_matches("https://")))
        })
        .or_else(|| cfg.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String> {
    let bin = format!("docker-credential-{helper}");
    let mut child = Command::new(&bin)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "running the credential helper {bin} (named in {})",
                config_path().display()
            )
        })?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(input.as_bytes())
            .with_context(|| format!("writing to {bin}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for {bin}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let why = if stdout.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            stdout
        };
        bail!("{bin} {verb}: {why}");
    }
    Ok(stdout)
}

/// The stored credentials for a registry host, if any.
pub fn get(server: &str) -> Result<Option<RegistryAuth>> {
    let cfg = read_config()?;
    let key = key_of(server);
    if let Some(h) = helper_for(&cfg, &key) {
        return match run_helper(&h, "get", &key) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out)
                    .with_context(|| format!("docker-credential-{h} get: not JSON"))?;
                let user = v["Username"].as_str().unwrap_or_default().to_string();
                let secret = v["Secret"].as_str().unwrap_or_default().to_string();
                Ok(Some(if user == "<token>" {
                    RegistryAuth {
                        identity_token: secret,
                        ..Default::default()
                    }
                } else {
                    RegistryAuth {
                        username: user,
                        password: secret,
                        ..Default::default()
                    }
                }))
            }
            // A helper that has nothing for the server says so on stdout.
            Err(e) if e.to_string().contains("credentials not found") => Ok(None),
            Err(e) => Err(e),
        };
    }
    let Some(entry) = cfg
        .get("auths")
        .and_then(|a| a.get(&key).or_else(|| a.get(server)))
    else {
        return Ok(None);
    };
    let mut auth = RegistryAuth::default();
    if let Some(b64) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        let raw = decode_base64(b64).with_context(|| {
            format!(
                "{}: auths.{key}.auth is not base64",
                config_path().display()
            )
        })?;
        let s = String::from_utf8_lossy(&raw).to_string();
        let (u, p) = s.split_once(':').with_context(|| {
            format!(
                "{}: auths.{key}.auth is not user:password",
                config_path().display()
            )
        })?;
        auth.username = u.to_string();
        auth.password = p.to_string();
    }
    if let Some(t) = entry.get("identitytoken").and_then(Value::as_str) {
        auth.identity_token = t.to_string();
    }
    Ok((!auth.username.is_empty() || !auth.identity_token.is_empty()).then_some(auth))
}

/// Stores credentials the way docker does (helper, else `auths`).
pub fn store(server: &str, auth: &RegistryAuth) -> Result<()> {
    let mut cfg = read_config()?;
    let key = key_of(server);
    let helper = helper_for(&cfg, &key);
    if let Some(h) = &helper {
        let input = json!({"ServerURL": key, "Username": auth.username, "Secret": auth.password});
        run_helper(h, "store", &input.to_string())?;
    }
    let auths = cfg
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        bail!("{}: \"auths\" is not an object", config_path().display());
    };
    // With a helper, docker keeps an empty entry: the server is logged in to,
    // the secret is the helper's.
    let entry = match helper {
        Some(_) => json!({}),
        None => {
            let raw = format!("{}:{}", auth.username, auth.password);
            json!({"auth": encode_base64(raw.as_bytes())})
        }
    };
    auths.insert(key, entry);
    write_config(&cfg)
}

/// Removes stored credentials; `false` when there were none.
pub fn erase(server: &str) -> Result<bool> {
    let mut cfg = read_config()?;
    let key = key_of(server);
    let helper = helper_for(&cfg, &key);
    if let Some(h) = &helper {
        run_helper(h, "erase", &key)?;
    }
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .is_some_and(|a| a.remove(&key).is_some() || a.remove(server).is_some());
    if removed {
        write_config(&cfg)?;
    }
    Ok(removed || helper.is_some())
}

fn encode_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn decode_base64(s: &str) -> Result<Vec<u8>> {
    Ok(base64::engine::general_purpose::STANDARD.decode(s.trim())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "user:p@ss:word"] {
            assert_eq!(
                decode_base64(&encode_base64(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert_eq!(encode_base64(b"user:pass"), "dXNlcjpwYXNz");
    }
}
