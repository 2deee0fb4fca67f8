//! RUN: the command in a real container of the step's parent image, through the
//! shim; its layer is what the container changed, less the mountpoints of its
//! `--mount`s (`run_mount.rs`), which stay out of the layer.
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use super::cache::StepKey;
use super::context::{resolve_in, Context};
use super::copy::{checksums, Exclude, Source};
use super::dockerfile::{self, Command, Heredoc, Step};
use super::exec::{BuildOptions, Builder, Event, Running, Sink};
use super::run_mount::{self, Kind, RunMount, Sharing};
use super::stage::StageState;
use super::BuildError;
use crate::containers::{LogOptions, MountKind, MountSpec, NetworkMode, Spec, TmpfsOptions};
use crate::content::Digest;
use crate::images::{StepLayer, StepMeta, View};

/// What a RUN's mounts hold open until its container is gone.
#[derive(Default)]
struct Mounted {
    specs: Vec<MountSpec>,
    /// Targets, absolute: their mountpoints are not part of the layer.
    targets: Vec<String>,
    env: Vec<String>,
    _views: Vec<View>,
    /// rw bind copies (on disk, under the root) and secrets (under the state dir,
    /// a tmpfs on most hosts).
    _scratch: Option<tempfile::TempDir>,
    _secrets: Option<tempfile::TempDir>,
    _locks: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_step(
        &self,
        ctx: &Arc<Context>,
        opts: &BuildOptions,
        results: &HashMap<usize, Option<Digest>>,
        df: &dockerfile::Dockerfile,
        step: &Step,
        r: &dockerfile::Run,
        id: usize,
        run: &mut Running,
        sink: &Sink,
    ) -> Result<(), BuildError> {
        let at = |message: String| BuildError::Step {
            line: step.line,
            message,
        };
        let mut mounts = Vec::new();
        for raw in &r.mounts {
            let (raw, _) = run.state.word(raw).map_err(at)?;
            let mut m = run_mount::parse(&raw).map_err(at)?;
            if !m.target.is_empty() && !m.target.starts_with('/') {
                let wd = run
                    .state
                    .config
                    .working_dir
                    .trim_end_matches('/')
                    .to_string();
                m.target = format!("{wd}/{}", m.target);
            }
            if !m.target.is_empty() {
                m.target = super::stage::clean_abs(&m.target);
            }
            mounts.push(m);
        }
        let argv = run_argv(&run.state, &r.command, &r.heredocs);
        let created_by = format!("RUN {} # buildkit", argv.join(" "));
        // The mounts are part of what the step is; a bound source's files are too
        // (a secret's value and a cache's content are not: BuildKit's rule).
        let mut instruction = created_by.clone();
        for raw in &r.mounts {
            instruction.push_str(&format!(" --mount={raw}"));
        }
        let mut files = BTreeMap::new();
        let mut froms: Vec<Option<Digest>> = Vec::new();
        for m in &mounts {
            let from = match &m.from {
                Some(f) if m.kind == Kind::Bind => Some(
                    self.mount_from(f, df, results, sink)
                        .await
                        .map_err(|e| at(format!("RUN --mount from={f}: {e}")))?,
                ),
                _ => None,
            };
            match (&from, m.kind) {
                (Some(img), _) => {
                    files.insert(format!("mount:{}", m.target), img.to_string());
                }
                (None, Kind::Bind) => {
                    let source = if m.source.is_empty() {
                        "."
                    } else {
                        m.source.as_str()
                    };
                    let host = ctx.resolve_path(source.trim_start_matches('/'), true)?;
                    let name = format!("mount:{}", m.target);
                    let sums = tokio::task::spawn_blocking(move || {
                        checksums(&[Source::new(host, name)], &Exclude::default())
                    })
                    .await
                    .map_err(|e| BuildError::Invalid(format!("RUN --mount: {e}")))?
                    .map_err(|e| at(format!("RUN --mount source={source}: {e}")))?;
                    files.extend(sums);
                }
                _ => {}
            }
            froms.push(from);
        }
        let key = StepKey {
            parent: run.parent_key(),
            instruction,
            args: run.state.args.clone(),
            files,
        };
        if self.cached(&key, id, opts, run, sink).await? {
            return Ok(());
        }
        let Some(base) = run.image.clone() else {
            return Err(at("RUN needs a shell and FROM scratch has none: add files first, or start FROM an image".into()));
        };
        let network = match r.network.as_deref() {
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some("default") | None => opts.network.clone(),
            Some(other) => {
                return Err(at(format!(
                    "RUN --network={other}: use none, host or default"
                )))
            }
        };
        let mounted = self
            .mount_all(ctx, opts, &mounts, &froms)
            .await
            .map_err(at)?;
        let mut env = run.state.run_env();
        env.extend(mounted.env.iter().cloned());
        let spec = Spec {
            image: base.to_string(),
            entrypoint: Some(Vec::new()),
            cmd: argv.clone(),
            env,
            working_dir: run.state.config.working_dir.clone(),
            user: run.state.config.user.clone(),
            network_mode: network,
            mounts: mounted.specs.clone(),
            labels: [("berth.build.step".to_string(), id.to_string())].into(),
            ..Default::default()
        };
        let (cid, _) = self
            .containers()
            .create(spec)
            .await
            .map_err(|e| at(format!("RUN: {e}")))?;
        let outcome = self.run_container(&cid, id, sink).await;
        let result = match outcome {
            Ok(0) => {
                let meta = StepMeta {
                    config: run.state.config.clone(),
                    created_by,
                    comment: None,
                };
                let c = cid.clone();
                // The engine's own bind mounts are not the step's files either
                // (docker keeps them out of a RUN's layer too).
                let mut targets = mounted.targets.clone();
                targets
                    .extend(["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"].map(String::from));
                self.blocking(move |i| {
                    Ok(
                        i.derive(Some(&base), StepLayer::Container(&c, &targets), &meta)?
                            .id,
                    )
                })
                .await
            }
            Ok(code) => Err(BuildError::RunFailed {
                line: step.line,
                command: step.text.clone(),
                code,
            }),
            Err(e) => Err(at(format!("RUN: {e}"))),
        };
        if let Err(e) = self.containers().remove(&cid, true, true).await {
            tracing::warn!(container = %cid, "removing a build container: {e}");
        }
        drop(mounted);
        let image = result?;
        self.remember(&key, &image, run)
    }

    /// The image a `from=` names: a stage of this build, or an image (pulled when
    /// missing).
    async fn mount_from(
        &self,
        from: &str,
        df: &dockerfile::Dockerfile,
        results: &HashMap<usize, Option<Digest>>,
        sink: &Sink,
    ) -> Result<Digest, BuildError> {
        match df.stage_index(from) {
            Some(j) => results.get(&j).cloned().flatten().ok_or_else(|| {
                BuildError::Invalid("that stage has no image (FROM scratch and no files)".into())
            }),
            None => Ok(self.ensure_image(from, false, sink).await?.0),
        }
    }

    /// Turn the parsed mounts into the container's mounts, making cache dirs and
    /// secret files, taking `sharing=locked` locks.
    async fn mount_all(
        &self,
        ctx: &Arc<Context>,
        opts: &BuildOptions,
        mounts: &[RunMount],
        froms: &[Option<Digest>],
    ) -> Result<Mounted, String> {
        let mut out = Mounted::default();
        for (m, from) in mounts.iter().zip(froms) {
            match m.kind {
                Kind::Bind => {
                    let source = if m.source.is_empty() {
                        "."
                    } else {
                        m.source.as_str()
                    };
                    let host = match from {
                        Some(img) => {
                            let images = self.images.clone();
                            let img = img.clone();
                            let view = tokio::task::spawn_blocking(move || images.view(Some(&img)))
                                .await
                                .map_err(|e| e.to_string())?
                                .map_err(|e| format!("--mount from=: {e}"))?;
                            let host = resolve_in(&view.root(), source, true)
                                .map_err(|e| format!("--mount source={source}: {e}"))?;
                            out._views.push(view);
                            host
                        }
                        None => ctx
                            .resolve_path(source.trim_start_matches('/'), true)
                            .map_err(|e| format!("--mount source={source}: {e}"))?,
                    };
                    if std::fs::symlink_metadata(&host).is_err() {
                        return Err(format!(
                            "--mount source={source}: no such file or directory"
                        ));
                    }
                    // rw: the step may write, but into a copy that is thrown away.
                    let host = if m.rw {
                        let copy = scratch(&mut out._scratch, &self.scratch_dir())?
                            .join(format!("bind-{}", out.specs.len()));
                        let status = std::process::Command::new("cp")
                            .arg("-a")
                            .arg(&host)
                            .arg(&copy)
                            .status()
                            .map_err(|e| format!("--mount rw: copying {source}: {e}"))?;
                        if !status.success() {
                            return Err(format!("--mount rw: copying {source} failed"));
                        }
                        copy
                    } else {
                        host
                    };
                    out.specs.push(bind(host, &m.target, !m.rw));
                }
                Kind::Cache => {
                    let dir = self.cache_mount_dir(&m.id);
                    make_cache_dir(&dir, m).map_err(|e| {
                        format!("--mount=type=cache,id={}: {}: {e}", m.id, dir.display())
                    })?;
                    if m.sharing == Sharing::Locked {
                        out._locks
                            .push(self.cache_mount_lock(&m.id).lock_owned().await);
                    }
                    out.specs.push(bind(dir, &m.target, !m.rw));
                }
                Kind::Tmpfs => out.specs.push(MountSpec {
                    kind: MountKind::Tmpfs,
                    source: String::new(),
                    target: m.target.clone(),
                    read_only: false,
                    tmpfs: TmpfsOptions {
                        size_bytes: m.size,
                        exec: true,
                        ..Default::default()
                    },
                }),
                Kind::Secret => {
                    let Some(value) = opts.secrets.get(&m.id) else {
                        if m.required {
                            return Err(format!(
                                "secret {}: required, and not given (berth build --secret id={},src=FILE)",
                                m.id, m.id
                            ));
                        }
                        continue;
                    };
                    if let Some(var) = &m.env {
                        let text = String::from_utf8(value.clone()).map_err(|_| {
                            format!("secret {} is not UTF-8 text: env={var} needs text", m.id)
                        })?;
                        out.env.push(format!("{var}={text}"));
                    }
                    if !m.target.is_empty() {
                        let dir = scratch(&mut out._secrets, &self.secrets_dir())?;
                        let file = dir.join(format!("secret-{}", out.specs.len()));
                        write_secret(&file, value, m)
                            .map_err(|e| format!("secret {}: {e}", m.id))?;
                        out.specs.push(bind(file, &m.target, true));
                    }
                }
            }
            if !m.target.is_empty() {
                out.targets.push(m.target.clone());
            }
        }
        Ok(out)
    }

    pub(super) async fn run_container(
        &self,
        cid: &str,
        id: usize,
        sink: &Sink,
    ) -> Result<i32, crate::containers::Error> {
        self.containers().start(cid).await?;
        let opts = |follow| LogOptions {
            follow,
            tail: -1,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut logs = self.containers().logs(cid, opts(true))?;
        let s = sink.clone();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = seen.clone();
        let forward = tokio::spawn(async move {
            while let Some(e) = logs.recv().await {
                s(Event::Output { id, data: e.line });
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let res = self.containers().wait(cid, "not-running").await?;
        // The follower polls and lingers after an exit; the rest of the log is
        // complete now, so read it once instead of waiting for the follower.
        forward.abort();
        let _ = forward.await;
        let skip = seen.load(std::sync::atomic::Ordering::SeqCst);
        let mut rest = self.containers().logs(cid, opts(false))?;
        let mut n = 0;
        while let Some(e) = rest.recv().await {
            n += 1;
            if n > skip {
                sink(Event::Output { id, data: e.line });
            }
        }
        Ok(res.exit_code)
    }
}

/// The scratch dir in `under`, made on first use.
fn scratch(
    slot: &mut Option<tempfile::TempDir>,
    under: &std::path::Path,
) -> Result<PathBuf, String> {
    if slot.is_none() {
        std::fs::create_dir_all(under).map_err(|e| format!("{}: {e}", under.display()))?;
        let t = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(under)
            .map_err(|e| format!("a scratch dir in {}: {e}", under.display()))?;
        *slot = Some(t);
    }
    Ok(slot
        .as_ref()
        .map(|t| t.path().to_path_buf())
        .unwrap_or_default())
}

fn bind(host: PathBuf, target: &str, read_only: bool) -> MountSpec {
    MountSpec {
        kind: MountKind::Bind,
        source: host.display().to_string(),
        target: target.to_string(),
        read_only,
        tmpfs: Default::default(),
    }
}

/// A cache dir is made once, with the mount's mode and owner (BuildKit: 0755,
/// root); later builds find it as the last one left it.
fn make_cache_dir(dir: &std::path::Path, m: &RunMount) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".new-")
        .tempdir_in(parent)?;
    std::fs::set_permissions(
        tmp.path(),
        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
    )?;
    std::os::unix::fs::chown(
        tmp.path(),
        Some(m.uid.unwrap_or(0)),
        Some(m.gid.unwrap_or(0)),
    )?;
    let made = tmp.keep();
    // Two builds making one id at once: the first rename wins, the other's is dropped.
    if std::fs::rename(&made, dir).is_err() {
        let _ = std::fs::remove_dir(&made);
    }
    Ok(())
}

fn write_secret(file: &std::path::Path, value: &[u8], m: &RunMount) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?;
    f.write_all(value)?;
    std::os::unix::fs::chown(file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))?;
    std::fs::set_permissions(
        file,
        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
    )
}
/// RUN's argv: the stage's shell with the command (a lone heredoc is the script; a
/// command with heredocs gets their text after it, for the shell to read).
fn run_argv(state: &StageState, c: &Command, heredocs: &[Heredoc]) -> Vec<String> {
    match (c, heredocs) {
        (Command::Shell(s), [h])
            if s.trim()
                .trim_start_matches("<<")
                .trim_start_matches('-')
                .trim_matches(['"', '\''])
                == h.name =>
        {
            state.argv(&Command::Shell(h.body.clone()))
        }
        (Command::Shell(s), hs) if !hs.is_empty() => {
            let mut script = s.clone();
            script.push('\n');
            for h in hs {
                script.push_str(&h.body);
                script.push_str(&h.name);
                script.push('\n');
            }
            state.argv(&Command::Shell(script))
        }
        _ => state.argv(c),
    }
}
