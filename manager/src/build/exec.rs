//! The executor: runs a plan stage by stage, each step through the cache. A step's
//! result is an image (`ImageService::derive`): RUN is a real container through the
//! shim, its layer the container's changes; COPY writes its layer from the context or
//! another stage's filesystem; the other instructions change only the config. A miss
//! says why (the cache's comparison, or the step where the chain first missed).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;

use super::cache::{Cache, StepKey};
use super::context::{resolve_in, Context};
use super::copy::{checksums, CopyLayer, Source};
use super::dockerfile::{self, Command, Heredoc, Instruction, Step};
use super::plan::{self, Base};
use super::stage::{StageState, PREDEFINED_ARGS};
use super::BuildError;
use crate::containers::{Containers, LogOptions, NetworkMode, Spec};
use crate::content::Digest;
use crate::images::{ImageService, StepLayer, StepMeta};
use crate::registry::{Progress, PullOptions, Registry};

/// `berth build`'s options.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's path in the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// `-f -`: the Dockerfile's text itself.
    pub dockerfile_text: Option<String>,
    pub tags: Vec<String>,
    pub build_args: HashMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    pub network: NetworkMode,
}

/// What the build reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Step `id` (1-based over the whole build) starts: `[stage n/m] TEXT`.
    Step {
        id: usize,
        stage: String,
        text: String,
    },
    Cached {
        id: usize,
    },
    Miss {
        id: usize,
        reason: String,
    },
    /// Output of a RUN.
    Output {
        id: usize,
        data: Vec<u8>,
    },
    Done {
        id: usize,
        secs: f64,
    },
    Warning(String),
}

pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

#[derive(Clone)]
pub struct Builder {
    images: Arc<ImageService>,
    containers: Containers,
    registry: Registry,
    cache: Cache,
}

/// Where a stage stands.
struct Running {
    state: StageState,
    image: Option<Digest>,
    /// The step id of this chain's first miss: everything after it misses too.
    missed_at: Option<usize>,
}

impl Builder {
    pub fn new(
        images: Arc<ImageService>,
        containers: Containers,
        registry: Registry,
        cache: Cache,
    ) -> Builder {
        Builder {
            images,
            containers,
            registry,
            cache,
        }
    }

    /// Build; returns the target's image ID, tagged as asked.
    pub async fn build(
        &self,
        ctx: Arc<Context>,
        opts: &BuildOptions,
        sink: &Sink,
    ) -> Result<Digest, BuildError> {
        let name = if opts.dockerfile.is_empty() {
            "Dockerfile"
        } else {
            opts.dockerfile.as_str()
        };
        let text = match &opts.dockerfile_text {
            Some(t) => t.clone(),
            None => ctx.read_file(name)?,
        };
        let df = dockerfile::parse(&text)?;
        let plan = plan::plan(&df, &opts.build_args, opts.target.as_deref())?;
        if let Some(s) = &df.directives.syntax {
            sink(Event::Warning(format!(
                "# syntax={s}: berth builds with its own frontend"
            )));
        }
        // Every stage is a task of its own that waits only for the stages it reads,
        // so independent stages run at the same time. Step ids are fixed up front
        // (plan order), whatever order the stages finish in.
        let df = Arc::new(df);
        let opts_arc = Arc::new(opts.clone());
        let meta_args = Arc::new(plan.meta_args.clone());
        let mut tasks: HashMap<usize, StageFuture> = HashMap::new();
        let mut first_id = 1;
        for planned in &plan.order {
            let mut wait_for: Vec<usize> = planned.reads.clone();
            if let Base::Stage(j) = planned.base {
                wait_for.push(j);
            }
            wait_for.sort_unstable();
            wait_for.dedup();
            let deps: Vec<(usize, StageFuture)> = wait_for
                .into_iter()
                .filter_map(|j| tasks.get(&j).map(|f| (j, f.clone())))
                .collect();
            let job = StageJob {
                builder: self.clone(),
                ctx: ctx.clone(),
                opts: opts_arc.clone(),
                df: df.clone(),
                meta_args: meta_args.clone(),
                planned: planned.clone(),
                first_id,
                sink: sink.clone(),
            };
            first_id += 1 + df.stages[planned.index].steps.len();
            let handle = tokio::spawn(async move {
                let mut results = HashMap::new();
                for (j, f) in deps {
                    let (img, _) = f.await?;
                    results.insert(j, img);
                }
                job.run(results).await.map_err(Arc::new)
            });
            let fut = async move {
                handle
                    .await
                    .map_err(|e| Arc::new(BuildError::Invalid(format!("a build stage: {e}"))))?
            }
            .boxed()
            .shared();
            tasks.insert(planned.index, fut);
        }
        let mut declared: BTreeSet<String> =
            df.meta_args.iter().map(|(_, a)| a.name.clone()).collect();
        let mut results: HashMap<usize, Option<Digest>> = HashMap::new();
        for planned in &plan.order {
            let Some(f) = tasks.get(&planned.index) else {
                continue;
            };
            let (img, d) = f.clone().await.map_err(|e| {
                Arc::try_unwrap(e).unwrap_or_else(|e| BuildError::Invalid(e.to_string()))
            })?;
            declared.extend(d);
            results.insert(planned.index, img);
        }
        let mut image = match results.get(&plan.target).cloned().flatten() {
            Some(d) => d,
            None => {
                // FROM scratch and nothing else: an empty image.
                let meta = StepMeta {
                    created_by: "FROM scratch".into(),
                    ..Default::default()
                };
                self.blocking(move |i| Ok(i.derive(None, StepLayer::None, &meta)?.id))
                    .await?
            }
        };
        if !opts.labels.is_empty() {
            let (_, mut cfg) = self.base_config(image.to_string()).await?;
            cfg.labels.extend(opts.labels.clone());
            let text: Vec<String> = opts
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let meta = StepMeta {
                config: cfg,
                created_by: format!("LABEL {}", text.join(" ")),
                comment: None,
            };
            let base = image.clone();
            image = self
                .blocking(move |i| Ok(i.derive(Some(&base), StepLayer::None, &meta)?.id))
                .await?;
        }
        for t in &opts.tags {
            let (t, id) = (t.clone(), image.to_string());
            self.blocking(move |i| Ok(i.tag(&id, &t)?)).await?;
        }
        let unused: Vec<&String> = opts
            .build_args
            .keys()
            .filter(|k| !declared.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let mut names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            names.sort();
            sink(Event::Warning(format!(
                "one or more build args were not consumed: [{}]",
                names.join(" ")
            )));
        }
        Ok(image)
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        ctx: &Arc<Context>,
        opts: &BuildOptions,
        meta_args: &HashMap<String, String>,
        results: &HashMap<usize, Option<Digest>>,
        df: &dockerfile::Dockerfile,
        step: &Step,
        id: usize,
        run: &mut Running,
        declared: &mut BTreeSet<String>,
        sink: &Sink,
    ) -> Result<(), BuildError> {
        let at = |message: String| BuildError::Step {
            line: step.line,
            message,
        };
        let parent = run
            .image
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "scratch".into());
        match &step.instruction {
            Instruction::Arg(decls) => {
                for a in decls {
                    declared.insert(a.name.clone());
                    run.state
                        .declare_arg(&a.name, a.default.as_deref(), &opts.build_args, meta_args)
                        .map_err(at)?;
                }
                Ok(())
            }
            Instruction::Run(r) => {
                if !r.mounts.is_empty() {
                    return Err(at("RUN --mount is not supported by berth yet".into()));
                }
                let argv = run_argv(&run.state, &r.command, &r.heredocs);
                let created_by = format!("RUN {} # buildkit", argv.join(" "));
                let key = StepKey {
                    parent,
                    instruction: created_by.clone(),
                    args: run.state.args.clone(),
                    files: BTreeMap::new(),
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
                let spec = Spec {
                    image: base.to_string(),
                    entrypoint: Some(Vec::new()),
                    cmd: argv.clone(),
                    env: run.state.run_env(),
                    working_dir: run.state.config.working_dir.clone(),
                    user: run.state.config.user.clone(),
                    network_mode: network,
                    labels: [("berth.build.step".to_string(), id.to_string())].into(),
                    ..Default::default()
                };
                let (cid, _) = self
                    .containers
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
                        self.blocking(move |i| {
                            Ok(i.derive(Some(&base), StepLayer::Container(&c), &meta)?.id)
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
                if let Err(e) = self.containers.remove(&cid, true, true).await {
                    tracing::warn!(container = %cid, "removing a build container: {e}");
                }
                let image = result?;
                self.remember(&key, &image, run)
            }
            Instruction::Copy(c) => {
                // --link only changes how BuildKit stores the layer: the same files
                // land either way. These two would change what is copied.
                if c.parents || !c.exclude.is_empty() {
                    return Err(at(
                        "COPY --parents and --exclude are not supported by berth yet".into(),
                    ));
                }
                let from = match &c.from {
                    Some(f) => {
                        let (f, _) = run.state.word(f).map_err(at)?;
                        Some(match df.stage_index(&f) {
                            Some(j) => From::Stage(j, results.get(&j).cloned().flatten()),
                            None => From::Image(f),
                        })
                    }
                    None => None,
                };
                let from_image = match &from {
                    Some(From::Stage(_, img)) => img.clone(),
                    Some(From::Image(r)) => Some(
                        self.ensure_image(r, false, sink)
                            .await
                            .map_err(|e| at(format!("COPY --from={r}: {e}")))?
                            .0,
                    ),
                    None => None,
                };
                self.copy(
                    ctx,
                    step,
                    id,
                    run,
                    CopyArgs {
                        sources: c.sources.clone(),
                        dest: c.dest.clone(),
                        chown: c.chown.clone(),
                        chmod: c.chmod.clone(),
                        heredocs: c.heredocs.clone(),
                        from: from.map(|f| (f, from_image)),
                        keyword: "COPY",
                    },
                    opts,
                    sink,
                )
                .await
            }
            Instruction::Add(a) => {
                if a.sources.iter().any(|s| s.contains("://")) || a.checksum.is_some() {
                    return Err(at("ADD of a URL is not supported by berth yet; use COPY, or RUN with a download".into()));
                }
                self.copy(
                    ctx,
                    step,
                    id,
                    run,
                    CopyArgs {
                        sources: a.sources.clone(),
                        dest: a.dest.clone(),
                        chown: a.chown.clone(),
                        chmod: a.chmod.clone(),
                        heredocs: a.heredocs.clone(),
                        from: None,
                        keyword: "ADD",
                    },
                    opts,
                    sink,
                )
                .await
            }
            other => {
                let applied = run
                    .state
                    .apply(other)
                    .unwrap_or_else(|| Ok(Default::default()))
                    .map_err(at)?;
                let args = applied
                    .used
                    .iter()
                    .filter_map(|n| run.state.args.get(n).map(|v| (n.clone(), v.clone())))
                    .collect();
                let key = StepKey {
                    parent,
                    instruction: applied.created_by.clone(),
                    args,
                    files: BTreeMap::new(),
                };
                if self.cached(&key, id, opts, run, sink).await? {
                    return Ok(());
                }
                let meta = StepMeta {
                    config: run.state.config.clone(),
                    created_by: applied.created_by,
                    comment: None,
                };
                let base = run.image.clone();
                let image = self
                    .blocking(move |i| Ok(i.derive(base.as_ref(), StepLayer::None, &meta)?.id))
                    .await?;
                self.remember(&key, &image, run)
            }
        }
    }

    /// A hit moves the stage to the cached image. A miss is reported with its reason.
    async fn cached(
        &self,
        key: &StepKey,
        id: usize,
        opts: &BuildOptions,
        run: &mut Running,
        sink: &Sink,
    ) -> Result<bool, BuildError> {
        if opts.no_cache {
            sink(Event::Miss {
                id,
                reason: "--no-cache".into(),
            });
            return Ok(false);
        }
        let hit = self
            .cache
            .get(key)
            .map_err(|e| BuildError::Invalid(format!("build cache: {e}")))?;
        if let Some(entry) = hit {
            let img = entry.image.to_string();
            if self.base_config(img).await.is_ok() {
                sink(Event::Cached { id });
                run.image = Some(entry.image);
                return Ok(true);
            }
            let _ = self.cache.forget(key);
        }
        let reason = match run.missed_at {
            Some(k) => format!("parent changed at step {k}"),
            None => self.cache.explain_miss(key),
        };
        run.missed_at.get_or_insert(id);
        sink(Event::Miss { id, reason });
        Ok(false)
    }

    fn remember(&self, key: &StepKey, image: &Digest, run: &mut Running) -> Result<(), BuildError> {
        self.cache
            .put(key, image)
            .map_err(|e| BuildError::Invalid(format!("build cache: {e}")))?;
        run.image = Some(image.clone());
        Ok(())
    }

    async fn run_container(
        &self,
        cid: &str,
        id: usize,
        sink: &Sink,
    ) -> Result<i32, crate::containers::Error> {
        self.containers.start(cid).await?;
        let opts = |follow| LogOptions {
            follow,
            tail: -1,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut logs = self.containers.logs(cid, opts(true))?;
        let s = sink.clone();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = seen.clone();
        let forward = tokio::spawn(async move {
            while let Some(e) = logs.recv().await {
                s(Event::Output { id, data: e.line });
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let res = self.containers.wait(cid, "not-running").await?;
        // The follower polls and lingers after an exit; the rest of the log is
        // complete now, so read it once instead of waiting for the follower.
        forward.abort();
        let _ = forward.await;
        let skip = seen.load(std::sync::atomic::Ordering::SeqCst);
        let mut rest = self.containers.logs(cid, opts(false))?;
        let mut n = 0;
        while let Some(e) = rest.recv().await {
            n += 1;
            if n > skip {
                sink(Event::Output { id, data: e.line });
            }
        }
        Ok(res.exit_code)
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy(
        &self,
        ctx: &Arc<Context>,
        step: &Step,
        id: usize,
        run: &mut Running,
        args: CopyArgs,
        opts: &BuildOptions,
        sink: &Sink,
    ) -> Result<(), BuildError> {
        let at = |message: String| BuildError::Step {
            line: step.line,
            message,
        };
        let mut used = BTreeSet::new();
        let (dest, u) = run.state.word(&args.dest).map_err(at)?;
        used.extend(u);
        let dest_abs = if dest.starts_with('/') {
            dest.clone()
        } else {
            let wd = if run.state.config.working_dir.is_empty() {
                "/"
            } else {
                run.state.config.working_dir.as_str()
            };
            format!("{}/{dest}", wd.trim_end_matches('/'))
        };
        // `.`, `dir/` and `dir/.` all name a directory; the path itself is cleaned.
        let names_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        let dest_abs = match super::stage::clean_abs(&dest_abs) {
            p if names_dir && p != "/" => format!("{p}/"),
            p => p,
        };
        let mut patterns = Vec::new();
        for raw in &args.sources {
            if let Some(name) = raw
                .strip_prefix("<<")
                .map(|n| n.trim_start_matches('-').trim_matches(['"', '\'']))
            {
                patterns.push(Pattern::Heredoc(name.to_string()));
                continue;
            }
            let (ws, u) = run.state.words(raw).map_err(at)?;
            used.extend(u);
            patterns.extend(ws.into_iter().map(Pattern::Path));
        }
        let chown = args
            .chown
            .as_ref()
            .map(|c| run.state.word(c).map(|(w, _)| w))
            .transpose()
            .map_err(at)?;
        let chmod = args
            .chmod
            .as_ref()
            .map(|m| {
                u32::from_str_radix(m, 8)
                    .map_err(|_| at(format!("{} --chmod={m}: not an octal mode", args.keyword)))
            })
            .transpose()?;
        let heredoc_bodies: Vec<(String, String)> = args
            .heredocs
            .iter()
            .map(|h| {
                let body = if h.expand {
                    run.state
                        .word(&h.body)
                        .map(|(w, _)| w)
                        .unwrap_or_else(|_| h.body.clone())
                } else {
                    h.body.clone()
                };
                (h.name.clone(), body)
            })
            .collect();
        let several = patterns.len() > 1;
        let images = self.images.clone();
        let ctx2 = ctx.clone();
        let from = args.from.clone();
        let keyword = args.keyword;
        let line = step.line;
        // Resolve sources, owner and parents, and checksum everything, off the runtime.
        let prepared = tokio::task::spawn_blocking(move || -> Result<Prepared, BuildError> {
            let at = |message: String| BuildError::Step { line, message };
            let scratch =
                tempfile::tempdir().map_err(|e| at(format!("{keyword}: a temporary dir: {e}")))?;
            let from_view = match &from {
                Some((_, Some(img))) => Some(
                    images
                        .view(Some(img))
                        .map_err(|e| at(format!("{keyword} --from: {e}")))?,
                ),
                Some((f, None)) => {
                    return Err(at(format!(
                        "{keyword} --from={}: that stage has no image",
                        f.name()
                    )))
                }
                None => None,
            };
            let mut sources = Vec::new();
            for p in &patterns {
                match p {
                    Pattern::Heredoc(name) => {
                        let body = heredoc_bodies
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, b)| b.clone())
                            .unwrap_or_default();
                        let path = scratch.path().join(name);
                        std::fs::write(&path, body)
                            .map_err(|e| at(format!("{keyword} <<{name}: {e}")))?;
                        sources.push(Source {
                            host: path,
                            name: format!("<<{name}"),
                        });
                    }
                    Pattern::Path(p) => match &from_view {
                        Some(v) => {
                            let host = resolve_in(&v.root(), p, true)?;
                            if std::fs::symlink_metadata(&host).is_err() {
                                return Err(BuildError::MissingSource(p.clone()));
                            }
                            sources.push(Source {
                                host,
                                name: format!("from:{}", p.trim_start_matches('/')),
                            });
                        }
                        None => {
                            for rel in ctx2.sources(p)? {
                                let name = rel.display().to_string();
                                let host = ctx2.resolve_path(&name, true)?;
                                sources.push(Source {
                                    host,
                                    name: if name.is_empty() { ".".into() } else { name },
                                });
                            }
                        }
                    },
                }
            }
            if keyword == "ADD" {
                for src in &sources {
                    if is_archive(&src.host) {
                        return Err(at(format!(
                            "ADD {}: unpacking a local archive is not supported by berth yet; COPY it and RUN tar",
                            src.name
                        )));
                    }
                }
            }
            let files = checksums(&sources)
                .map_err(|e| at(format!("{keyword}: reading the sources: {e}")))?;
            Ok(Prepared {
                _from_view: from_view,
                sources,
                files,
                dest_abs,
                several,
                chown,
                _scratch: scratch,
            })
        })
        .await
        .map_err(|e| BuildError::Invalid(format!("{keyword}: {e}")))??;
        let instruction = format!("{} # buildkit", step.text);
        let args_used = used
            .iter()
            .filter_map(|n| run.state.args.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        let key = StepKey {
            parent: run
                .image
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "scratch".into()),
            instruction: instruction.clone(),
            args: args_used,
            files: prepared.files.clone(),
        };
        if self.cached(&key, id, opts, run, sink).await? {
            return Ok(());
        }
        let meta = StepMeta {
            config: run.state.config.clone(),
            created_by: instruction,
            comment: None,
        };
        let base = run.image.clone();
        let images = self.images.clone();
        let line = step.line;
        let image = self
            .blocking(move |i| {
                // Only a miss mounts the parent: a cached COPY costs its checksums.
                let layer = {
                    let view = images.view(base.as_ref()).map_err(|e| BuildError::Step {
                        line,
                        message: format!("{keyword}: {e}"),
                    })?;
                    prepared
                        .layer(&view.root(), chmod)
                        .map_err(|m| BuildError::Step {
                            line,
                            message: format!("{keyword} {m}"),
                        })?
                };
                let mut write = |w: &mut dyn std::io::Write| layer.write(w);
                Ok(i.derive(base.as_ref(), StepLayer::Tar(&mut write), &meta)?
                    .id)
            })
            .await?;
        self.remember(&key, &image, run)
    }

    async fn base_config(
        &self,
        reference: String,
    ) -> Result<(Digest, crate::images::ImageConfig), BuildError> {
        self.blocking(move |i| {
            let b = i.base(&reference)?;
            Ok((b.id, b.configuration.config))
        })
        .await
    }

    /// The image `reference` names, pulled when missing (or always, with `--pull`).
    async fn ensure_image(
        &self,
        reference: &str,
        pull: bool,
        sink: &Sink,
    ) -> Result<(Digest, crate::images::ImageConfig), BuildError> {
        if !pull {
            if let Ok(found) = self.base_config(reference.to_string()).await {
                return Ok(found);
            }
        }
        sink(Event::Warning(format!("pulling {reference}")));
        let opts = PullOptions::default();
        let out = self
            .registry
            .pull(reference, &opts, &Progress::none())
            .await
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        let name = out
            .pulled
            .first()
            .map(|p| p.canonical.clone())
            .unwrap_or_else(|| reference.to_string());
        self.base_config(name).await
    }

    pub(super) fn containers(&self) -> &Containers {
        &self.containers
    }

    pub(super) fn cache(&self) -> &Cache {
        &self.cache
    }

    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ImageService) -> Result<T, BuildError> + Send + 'static,
    ) -> Result<T, BuildError> {
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || f(&images))
            .await
            .map_err(|e| BuildError::Invalid(format!("build step: {e}")))?
    }
}

type StageFuture = futures_util::future::Shared<
    futures_util::future::BoxFuture<
        'static,
        Result<(Option<Digest>, BTreeSet<String>), Arc<BuildError>>,
    >,
>;

/// One stage's work, owned so it can run as a task of its own.
struct StageJob {
    builder: Builder,
    ctx: Arc<Context>,
    opts: Arc<BuildOptions>,
    df: Arc<dockerfile::Dockerfile>,
    meta_args: Arc<HashMap<String, String>>,
    planned: plan::PlannedStage,
    /// The id of its FROM step.
    first_id: usize,
    sink: Sink,
}

impl StageJob {
    /// Build the stage on the results of the stages it reads; its image and the
    /// ARG names it declared.
    async fn run(
        self,
        results: HashMap<usize, Option<Digest>>,
    ) -> Result<(Option<Digest>, BTreeSet<String>), BuildError> {
        let (df, planned, sink, opts) = (&self.df, &self.planned, &self.sink, &*self.opts);
        let stage = &df.stages[planned.index];
        let esc = df.directives.escape;
        // BuildKit's labels: `[2/5]` alone, `[name 2/5]` or `[stage-1 2/5]` with stages.
        let multi = df.stages.len() > 1;
        let label = |k: usize| {
            let n = stage.steps.len() + 1;
            match (&stage.name, multi) {
                (Some(name), _) => format!("{name} {k}/{n}"),
                (None, true) => format!("stage-{} {k}/{n}", planned.index),
                (None, false) => format!("{k}/{n}"),
            }
        };
        let mut id = self.first_id;
        sink(Event::Step {
            id,
            stage: label(1),
            text: format!("FROM {}", stage.from.image),
        });
        let started = Instant::now();
        let (image, config) = match &planned.base {
            Base::Scratch => (None, Default::default()),
            Base::Stage(j) => {
                let img = results.get(j).cloned().flatten();
                let cfg = match &img {
                    Some(d) => self.builder.base_config(d.to_string()).await?.1,
                    None => Default::default(),
                };
                (img, cfg)
            }
            Base::Image(r) => {
                let (d, cfg) = self
                    .builder
                    .ensure_image(r, opts.pull, sink)
                    .await
                    .map_err(|e| BuildError::Step {
                        line: stage.line,
                        message: format!("FROM {r}: {e}"),
                    })?;
                (Some(d), cfg)
            }
        };
        sink(Event::Done {
            id,
            secs: started.elapsed().as_secs_f64(),
        });
        let mut run = Running {
            state: StageState::new(config, esc),
            image,
            missed_at: None,
        };
        let mut declared = BTreeSet::new();
        for (k, step) in stage.steps.iter().enumerate() {
            id += 1;
            sink(Event::Step {
                id,
                stage: label(k + 2),
                text: step.text.clone(),
            });
            let started = Instant::now();
            self.builder
                .step(
                    &self.ctx,
                    opts,
                    &self.meta_args,
                    &results,
                    df,
                    step,
                    id,
                    &mut run,
                    &mut declared,
                    sink,
                )
                .await?;
            sink(Event::Done {
                id,
                secs: started.elapsed().as_secs_f64(),
            });
        }
        Ok((run.image, declared))
    }
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

/// Whether ADD would unpack `path` (tar, gzip, bzip2, xz: docker's list).
fn is_archive(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 262];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(b"BZh")
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || (n >= 262 && &h[257..262] == b"ustar")
}

/// `--chown=user[:group]`, names looked up in the image's /etc/passwd and /etc/group.
fn owner_of(root: &std::path::Path, spec: &str) -> Result<(u64, u64), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let find = |file: &str, name: &str, field: usize| -> Result<(u64, Option<u64>), String> {
        if let Ok(n) = name.parse::<u64>() {
            return Ok((n, None));
        }
        let text = std::fs::read_to_string(root.join("etc").join(file)).unwrap_or_default();
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| {
                Some((
                    f.get(2)?.parse().ok()?,
                    f.get(field).and_then(|g| g.parse().ok()),
                ))
            })
            .ok_or_else(|| {
                format!(
                    "{name}: no such {} in the image's /etc/{file}",
                    if file == "passwd" { "user" } else { "group" }
                )
            })
    };
    let (uid, primary_gid) = find("passwd", user, 3)?;
    let gid = match group {
        Some(g) => find("group", g, 2)?.0,
        None => primary_gid.unwrap_or(uid),
    };
    Ok((uid, gid))
}

#[derive(Debug, Clone)]
enum From {
    Stage(usize, Option<Digest>),
    Image(String),
}

impl From {
    fn name(&self) -> String {
        match self {
            From::Stage(j, _) => j.to_string(),
            From::Image(r) => r.clone(),
        }
    }
}

enum Pattern {
    Path(String),
    Heredoc(String),
}

struct CopyArgs {
    sources: Vec<String>,
    dest: String,
    chown: Option<String>,
    chmod: Option<String>,
    heredocs: Vec<Heredoc>,
    from: Option<(From, Option<Digest>)>,
    keyword: &'static str,
}

struct Prepared {
    /// Kept mounted until the layer is written: the sources may be in it.
    _from_view: Option<crate::images::View>,
    sources: Vec<Source>,
    files: BTreeMap<String, String>,
    dest_abs: String,
    /// Several source words were given: dest is a directory.
    several: bool,
    chown: Option<String>,
    _scratch: tempfile::TempDir,
}

impl Prepared {
    /// The layer, laid out against the parent image mounted at `root`: whether dest
    /// is a directory there, which parents it lacks, whose names --chown means.
    fn layer(&self, root: &std::path::Path, chmod: Option<u32>) -> Result<CopyLayer, String> {
        let dest_abs = &self.dest_abs;
        let dest_in = resolve_in(root, dest_abs, true)
            .unwrap_or_else(|_| root.join(dest_abs.trim_start_matches('/')));
        let dest_is_dir =
            dest_abs.ends_with('/') || self.several || self.sources.len() > 1 || dest_in.is_dir();
        let comps: Vec<&str> = dest_abs.split('/').filter(|s| !s.is_empty()).collect();
        let upto = if dest_is_dir {
            comps.len()
        } else {
            comps.len().saturating_sub(1)
        };
        let mut missing_parents = Vec::new();
        let mut cur = String::new();
        for c in &comps[..upto] {
            cur.push('/');
            cur.push_str(c);
            if !root.join(cur.trim_start_matches('/')).exists() {
                missing_parents.push(cur.clone());
            }
        }
        // A directory dest that is created gets the owner (docker's --chown rule).
        if dest_is_dir {
            missing_parents.retain(|p| p != &format!("/{}", comps.join("/")));
        }
        let owner = self
            .chown
            .as_deref()
            .map(|c| owner_of(root, c))
            .transpose()
            .map_err(|e| format!("--chown: {e}"))?;
        Ok(CopyLayer {
            sources: self.sources.clone(),
            dest: dest_abs.clone(),
            dest_is_dir,
            owner,
            chmod,
            missing_parents,
        })
    }
}
