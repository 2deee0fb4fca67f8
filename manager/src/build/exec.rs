//! The executor: runs a plan stage by stage, each step through the cache. A step's
//! result is an image (`ImageService::derive`): RUN is a real container through the
//! shim, its layer the container's changes; COPY writes its layer from the context or
//! another stage's filesystem; the other instructions change only the config. A miss
//! says why (the cache's comparison, or the step where the chain first missed).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;

use super::cache::{Cache, StepKey};
use super::context::Context;
use super::copy_step::{workdir_layer, CopyArgs, From};
use super::dockerfile::{self, Instruction, Step};
use super::plan::{self, Base};
use super::stage::{StageState, PREDEFINED_ARGS};
use super::BuildError;
use crate::containers::{Containers, NetworkMode};
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
    /// `--secret id=…`: what `RUN --mount=type=secret` mounts.
    pub secrets: HashMap<String, Vec<u8>>,
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
    pub(super) images: Arc<ImageService>,
    containers: Containers,
    registry: Registry,
    cache: Cache,
    dirs: Arc<Dirs>,
}

/// Where the builder keeps what is not in the stores.
pub struct Dirs {
    /// `<root>/build`: cache mounts (kept) and scratch copies (cleared at start).
    pub root: PathBuf,
    /// `<state>/build`: secrets while a RUN uses them (cleared at start).
    pub state: PathBuf,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Dirs {
    pub fn new(root: PathBuf, state: PathBuf) -> Dirs {
        Dirs {
            root,
            state,
            locks: Default::default(),
        }
    }

    pub fn cache_mounts(&self) -> PathBuf {
        self.root.join("cache-mounts")
    }

    pub fn scratch(&self) -> PathBuf {
        self.root.join("scratch")
    }

    /// Left by builds a crash cut short.
    pub fn clear_scratch(&self) {
        let _ = std::fs::remove_dir_all(self.scratch());
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Where a stage stands.
pub(super) struct Running {
    pub state: StageState,
    pub image: Option<Digest>,
    /// The step id of this chain's first miss: everything after it misses too.
    missed_at: Option<usize>,
}

impl Running {
    /// The next step's parent as the cache key names it.
    pub fn parent_key(&self) -> String {
        self.image
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "scratch".into())
    }
}

impl Builder {
    pub fn new(
        images: Arc<ImageService>,
        containers: Containers,
        registry: Registry,
        cache: Cache,
        dirs: Dirs,
    ) -> Builder {
        Builder {
            images,
            containers,
            registry,
            cache,
            dirs: Arc::new(dirs),
        }
    }

    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    /// A cache mount's directory: by a hash of its id, so any id is a safe name.
    pub(super) fn cache_mount_dir(&self, id: &str) -> PathBuf {
        use sha2::Digest as _;
        self.dirs
            .cache_mounts()
            .join(hex::encode(sha2::Sha256::digest(id.as_bytes())))
    }

    pub(super) fn cache_mount_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.dirs.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }

    pub(super) fn scratch_dir(&self) -> PathBuf {
        self.dirs.scratch()
    }

    pub(super) fn secrets_dir(&self) -> PathBuf {
        self.dirs.state.clone()
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
        let parent = run.parent_key();
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
                self.run_step(ctx, opts, results, df, step, r, id, run, sink)
                    .await
            }
            Instruction::Copy(c) => {
                // --link only changes how BuildKit stores the layer: the same files
                // land either way.
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
                        checksum: None,
                        exclude: c.exclude.clone(),
                        parents: c.parents,
                    },
                    opts,
                    sink,
                )
                .await
            }
            Instruction::Add(a) => {
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
                        checksum: a.checksum.clone(),
                        exclude: a.exclude.clone(),
                        parents: false,
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
                // WORKDIR makes its directory (BuildKit: with the stage's USER as
                // owner); only when it is missing is there a layer.
                let workdir = matches!(other, Instruction::Workdir(_))
                    .then(|| run.state.config.working_dir.clone());
                let user = run.state.config.user.clone();
                let images = self.images.clone();
                let line = step.line;
                let image = self
                    .blocking(move |i| {
                        let layer = match &workdir {
                            Some(wd) => {
                                let view = images.view(base.as_ref())?;
                                workdir_layer(&view.root(), wd, &user)
                                    .map_err(|message| BuildError::Step { line, message })?
                            }
                            None => None,
                        };
                        let derived = match layer {
                            Some(layer) => {
                                let mut write = |w: &mut dyn std::io::Write| layer.write(w);
                                i.derive(base.as_ref(), StepLayer::Tar(&mut write), &meta)?
                            }
                            None => i.derive(base.as_ref(), StepLayer::None, &meta)?,
                        };
                        Ok(derived.id)
                    })
                    .await?;
                self.remember(&key, &image, run)
            }
        }
    }

    /// A hit moves the stage to the cached image. A miss is reported with its reason.
    pub(super) async fn cached(
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

    pub(super) fn remember(
        &self,
        key: &StepKey,
        image: &Digest,
        run: &mut Running,
    ) -> Result<(), BuildError> {
        self.cache
            .put(key, image)
            .map_err(|e| BuildError::Invalid(format!("build cache: {e}")))?;
        run.image = Some(image.clone());
        Ok(())
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
    pub(super) async fn ensure_image(
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
        // The base's ONBUILD triggers run first, as steps of this FROM; the
        // images they make do not carry them on.
        let mut config = config;
        let triggers: Vec<String> = config
            .extra
            .remove("OnBuild")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let trigger_steps = dockerfile::triggers(&triggers, stage.line)?;
        let mut run = Running {
            state: StageState::new(config, esc),
            image,
            missed_at: None,
        };
        let mut declared = BTreeSet::new();
        for step in &trigger_steps {
            sink(Event::Step {
                id,
                stage: label(1),
                text: format!("ONBUILD {}", step.text),
            });
            self.step(&results, step, id, &mut run, &mut declared)
                .await?;
        }
        sink(Event::Done {
            id,
            secs: started.elapsed().as_secs_f64(),
        });
        for (k, step) in stage.steps.iter().enumerate() {
            id += 1;
            sink(Event::Step {
                id,
                stage: label(k + 2),
                text: step.text.clone(),
            });
            let started = Instant::now();
            self.step(&results, step, id, &mut run, &mut declared)
                .await?;
            sink(Event::Done {
                id,
                secs: started.elapsed().as_secs_f64(),
            });
        }
        Ok((run.image, declared))
    }

    async fn step(
        &self,
        results: &HashMap<usize, Option<Digest>>,
        step: &Step,
        id: usize,
        run: &mut Running,
        declared: &mut BTreeSet<String>,
    ) -> Result<(), BuildError> {
        self.builder
            .step(
                &self.ctx,
                &self.opts,
                &self.meta_args,
                results,
                &self.df,
                step,
                id,
                run,
                declared,
                &self.sink,
            )
            .await
    }
}
