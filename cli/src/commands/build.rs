//! `berth build` / `berth image build`: the context from a directory (filtered by
//! .dockerignore here) or a tar on STDIN; the steps as BuildKit's plain progress
//! prints them (`#N [stage k/n] TEXT`, `#N CACHED`, `#N cache miss: why`, the RUN's
//! output, `#N DONE 0.4s`), on stderr, the image ID on stdout with `-q`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine_api::build::{BuildEvent, BuildSpec, ContextSource};
use berth_engine_api::Client;
use tokio::io::AsyncReadExt;

use crate::args::{BuildArgs, BuilderPruneArgs};
use crate::output::units;

fn key_values(list: &[String], flag: &str, from_env: bool) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for kv in list {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            None if from_env && !kv.is_empty() => {
                // docker: `--build-arg NAME` takes NAME from the environment, if set.
                if let Ok(v) = std::env::var(kv) {
                    out.insert(kv.clone(), v);
                }
            }
            _ => bail!("invalid argument {kv:?} for \"{flag}\" flag: use KEY=VALUE"),
        }
    }
    Ok(out)
}

pub async fn build(c: &Client, a: BuildArgs) -> Result<i32> {
    if let Some(o) = &a.output {
        bail!("--output {o}: exporting a build result is not supported by berth yet; tag the image and use berth save");
    }
    if let Some(p) = &a.platform {
        if p != "linux/amd64" && p != "linux/x86_64" {
            bail!("--platform {p}: berth builds for linux/amd64 only");
        }
    }
    if !matches!(a.progress.as_str(), "auto" | "plain" | "tty") {
        bail!("--progress {}: use auto, plain or tty", a.progress);
    }
    let mut spec = BuildSpec {
        tags: a.tag.clone(),
        build_args: key_values(&a.build_arg, "--build-arg", true)?,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels: key_values(&a.label, "--label", false)?,
        network: a.network.clone().unwrap_or_default(),
        ..Default::default()
    };
    let context = if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            bail!("the context and the Dockerfile cannot both come from STDIN");
        }
        spec.dockerfile = a.file.clone().unwrap_or_default();
        ContextSource::Tar(Box::new(tokio::io::stdin()))
    } else {
        let root = PathBuf::from(&a.context);
        let meta = std::fs::metadata(&root).with_context(|| {
            format!("unable to prepare context: path {:?} not found", a.context)
        })?;
        if !meta.is_dir() {
            bail!(
                "unable to prepare context: {:?} is not a directory",
                a.context
            );
        }
        match a.file.as_deref() {
            Some("-") => {
                let mut text = String::new();
                tokio::io::stdin()
                    .read_to_string(&mut text)
                    .await
                    .context("reading the Dockerfile from STDIN")?;
                spec.dockerfile_text = Some(text);
            }
            Some(f) => {
                let path = Path::new(f);
                let root_abs = std::fs::canonicalize(&root)?;
                let file_abs = std::fs::canonicalize(path)
                    .with_context(|| format!("the Dockerfile {f} cannot be read"))?;
                match file_abs.strip_prefix(&root_abs) {
                    Ok(rel) => spec.dockerfile = rel.to_string_lossy().into_owned(),
                    Err(_) => {
                        spec.dockerfile_text = Some(
                            std::fs::read_to_string(&file_abs)
                                .with_context(|| format!("reading {f}"))?,
                        );
                    }
                }
            }
            None => {}
        }
        ContextSource::Dir(root)
    };
    let mut events = c.builder().build(&spec, context).await?;
    let mut err = std::io::stderr().lock();
    let mut image = None;
    while let Some(ev) = events.recv().await {
        let ev = ev?;
        if a.quiet {
            if let BuildEvent::Image(i) = &ev {
                image = Some(i.clone());
            }
            continue;
        }
        match ev {
            BuildEvent::Step { id, stage, text } => writeln!(err, "#{id} [{stage}] {text}")?,
            BuildEvent::Cached(id) => writeln!(err, "#{id} CACHED")?,
            BuildEvent::Miss { id, reason } => writeln!(err, "#{id} cache miss: {reason}")?,
            BuildEvent::Output { id, data } => {
                let text = String::from_utf8_lossy(&data);
                for line in text.lines() {
                    writeln!(err, "#{id} {line}")?;
                }
            }
            BuildEvent::Done { id, secs } => writeln!(err, "#{id} DONE {secs:.1}s")?,
            BuildEvent::Warning(w) => writeln!(err, "WARNING: {w}")?,
            BuildEvent::Image(i) => {
                writeln!(err, "writing image {i} done")?;
                for t in &a.tag {
                    writeln!(err, "naming to {t} done")?;
                }
                image = Some(i);
            }
        }
    }
    let Some(image) = image else {
        bail!("the build ended without an image");
    };
    if a.quiet {
        println!("{image}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &image).with_context(|| format!("writing --iidfile {f}"))?;
    }
    Ok(0)
}

/// `berth builder prune`: docker's output; `until=` as docker reads it.
pub async fn prune(c: &Client, a: BuilderPruneArgs) -> Result<i32> {
    let mut until = 0i64;
    for f in &a.filter {
        match f.split_once('=') {
            Some(("until", v)) => {
                let nanos = units::parse_since(v).with_context(|| {
                    format!("--filter until={v}: a timestamp or a duration such as 24h")
                })?;
                until = nanos / 1_000_000_000;
            }
            _ => bail!("invalid filter {f:?}: builder prune takes until="),
        }
    }
    // `-f` is accepted: like the other prune verbs here, berth does not prompt.
    let _ = a.force;
    let r = c.builder().prune(a.all, until).await?;
    if !r.images.is_empty() {
        println!("Deleted build cache objects:");
        for i in &r.images {
            println!("{i}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        units::size(r.space_reclaimed as f64)
    );
    Ok(0)
}
