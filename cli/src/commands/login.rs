//! `berth login [-u USER] [-p PASS | --password-stdin] [SERVER]` and `berth logout
//! [SERVER]`. berthd checks the credentials with the registry; the CLI keeps them
//! where docker does (see `credentials.rs`), only once the registry took them.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use berth_engine_api::{Client, RegistryAuth};

use crate::args::{LoginArgs, LogoutArgs};
use crate::credentials;

/// docker's normalisation of a login server: no scheme, no path; docker.io's
/// names are docker.io.
fn server_of(s: Option<&str>) -> String {
    let s = s.unwrap_or("").trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    match s.split('/').next().unwrap_or("") {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading stdin")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a line from the terminal with echo off.
fn prompt_hidden(label: &str) -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning echo off")?;
    let r = prompt(label);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    r
}

pub async fn login(c: &Client, a: LoginArgs) -> Result<i32> {
    let server = server_of(a.server.as_deref());
    if a.password.is_some() && a.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let tty = std::io::stdin().is_terminal();
    let mut password = a.password.clone();
    if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        if a.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut s)
            .context("reading the password from stdin")?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    }
    let username = match a.username.clone() {
        Some(u) => u,
        None if password.is_none() => {
            // docker first tries what is stored.
            if let Ok(Some(stored)) = credentials::get(&server) {
                if let Ok(status) = c.images().login(&server, stored).await {
                    println!("{status}");
                    return Ok(0);
                }
            }
            if !tty {
                bail!("Cannot perform an interactive login from a non TTY device");
            }
            prompt("Username: ")?
        }
        None => bail!("Must provide --username with --password"),
    };
    let password = match password {
        Some(p) => p,
        None if tty => prompt_hidden("Password: ")?,
        None => bail!("Cannot perform an interactive login from a non TTY device"),
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let auth = RegistryAuth {
        username,
        password,
        identity_token: String::new(),
    };
    let status = c.images().login(&server, auth.clone()).await?;
    credentials::store(&server, &auth).with_context(|| {
        format!(
            "storing the credentials in {}",
            credentials::config_path().display()
        )
    })?;
    println!("{status}");
    Ok(0)
}

pub async fn logout(a: LogoutArgs) -> Result<i32> {
    let server = server_of(a.server.as_deref());
    if credentials::erase(&server)? {
        println!(
            "Removing login credentials for {}",
            credentials::key_of(&server)
                .trim_start_matches("https://")
                .trim_end_matches("/v1/")
        );
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
