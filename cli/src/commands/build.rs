//! `berth build` / `berth image build`: the context from a directory (filtered by
//! .dockerignore here) or a tar on STDIN; the steps as BuildKit's plain progress
//! prints them (`#N [stage k/n] TEXT`, `#N CACHED`, `#N cache miss: why`, the RUN's
//! output, `#N DONE 0.4s`), on stderr, the image ID on stdout with `-q`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use berth_engine_api::build::pipe::chunk_pipe;
use berth_engine_api::build::{BuildEvent, BuildSpec, ContextSource};
use berth_engine_api::Client;
use tokio::io::AsyncReadExt;

use crate::args::{BuildArgs, BuilderPruneArgs};
use crate::output::build_progress::Progress;
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

/// `--secret id=ID[,src=FILE|,env=VAR]`; with neither, the variable ID (buildx's rule).
fn secrets(list: &[String]) -> Result<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    for raw in list {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for part in raw.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => bail!("--secret {raw}: use id=ID,src=FILE or id=ID,env=VAR"),
            }
        }
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            bail!("--secret {raw}: id= is missing");
        };
        let value = match (src, env) {
            (Some(f), _) => {
                std::fs::read(&f).with_context(|| format!("--secret id={id}: reading {f}"))?
            }
            (None, Some(v)) => std::env::var(&v)
                .with_context(|| format!("--secret id={id}: the variable {v} is not set"))?
                .into_bytes(),
            (None, None) => std::env::var(&id)
                .with_context(|| {
                    format!("--secret id={id}: give src=FILE or env=VAR (no variable {id} is set)")
                })?
                .into_bytes(),
        };
        out.insert(id, value);
    }
    Ok(out)
}

/// `-o`: where the result's filesystem goes.
enum Output {
    Dir(PathBuf),
    Tar(String),
}

fn output(raw: &str) -> Result<Output> {
    if !raw.contains('=') {
        // docker's shorthand: `-o DIR`, `-o -` (a tar on STDOUT).
        return Ok(if raw == "-" {
            Output::Tar("-".into())
        } else {
            Output::Dir(PathBuf::from(raw))
        });
    }
    let mut kind = "local";
    let mut dest = None;
    for part in raw.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = v,
            Some(("dest", v)) => dest = Some(v.to_string()),
            _ => bail!("--output {raw}: use type=local,dest=DIR or type=tar,dest=FILE"),
        }
    }
    let Some(dest) = dest else {
        bail!("--output {raw}: dest= is missing");
    };
    match kind {
        "local" => Ok(Output::Dir(PathBuf::from(dest))),
        "tar" => Ok(Output::Tar(dest)),
        other => bail!("--output type={other}: berth exports type=local and type=tar"),
    }
}

/// Unpacks the export stream into a directory, on a thread of its own.
struct Unpacker {
    tx: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    done: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Unpacker {
    fn new(dir: PathBuf) -> Result<Unpacker> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("--output: creating {}", dir.display()))?;
        let (tx, reader) = chunk_pipe(16);
        let done = std::thread::spawn(move || {
            let mut a = tar::Archive::new(reader);
            a.set_preserve_permissions(true);
            a.set_preserve_mtime(true);
            a.set_unpack_xattrs(false);
            a.set_overwrite(true);
            // The tar crate keeps every entry inside `dir` (no `..`, no escape
            // through a symlink it made).
            a.unpack(&dir)
        });
        Ok(Unpacker {
            tx: Some(tx),
            done: Some(done),
        })
    }

    async fn write(&mut self, data: Vec<u8>) -> Result<()> {
        if let Some(tx) = &self.tx {
            if tx.send(data).await.is_err() {
                return self.finish();
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.tx = None;
        match self.done.take().map(|h| h.join()) {
            Some(Ok(r)) => r.context("--output: unpacking the result"),
            Some(Err(_)) => bail!("--output: the unpacker panicked"),
            None => Ok(()),
        }
    }
}

pub async fn build(c: &Client, a: BuildArgs) -> Result<i32> {
    let output = a.output.as_deref().map(output).transpose()?;
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
        secrets: secrets(&a.secret)?,
        export_tar: output.is_some(),
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
    let mut progress = Progress::new(&a.progress, a.quiet);
    let mut image = None;
    let mut unpacker = None;
    let mut tar_out: Option<Box<dyn Write>> = None;
    match &output {
        Some(Output::Dir(d)) => unpacker = Some(Unpacker::new(d.clone())?),
        Some(Output::Tar(f)) if f == "-" => tar_out = Some(Box::new(std::io::stdout())),
        Some(Output::Tar(f)) => {
            tar_out = Some(Box::new(
                std::fs::File::create(f).with_context(|| format!("--output: creating {f}"))?,
            ))
        }
        None => {}
    }
    while let Some(ev) = events.recv().await {
        let ev = ev?;
        progress.event(&ev, &a.tag)?;
        match ev {
            BuildEvent::Image(i) => image = Some(i),
            BuildEvent::Export(data) => {
                if let Some(u) = &mut unpacker {
                    u.write(data).await?;
                } else if let Some(w) = &mut tar_out {
                    w.write_all(&data).context("--output: writing the tar")?;
                }
            }
            _ => {}
        }
    }
    drop(progress);
    if let Some(mut u) = unpacker {
        u.finish()?;
    }
    if let Some(mut w) = tar_out {
        w.flush().context("--output: writing the tar")?;
    }
    let Some(image) = image else {
        bail!("the build ended without an image");
    };
    // With a tar on STDOUT, the ID would corrupt it.
    if a.quiet && !matches!(&output, Some(Output::Tar(f)) if f == "-") {
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
