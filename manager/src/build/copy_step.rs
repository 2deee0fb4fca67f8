//! COPY and ADD steps: sources resolved (context, another stage, a URL, an
//! unpacked archive), checksummed for the cache, and on a miss laid out against
//! the parent image as one layer (`copy.rs` writes it).
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::add;
use super::cache::StepKey;
use super::context::{resolve_in, Context};
use super::copy::{checksums, CopyLayer, Exclude, Source};
use super::dockerfile::{Heredoc, Step};
use super::exec::{BuildOptions, Builder, Running, Sink};
use super::BuildError;
use crate::content::Digest;
use crate::images::{StepLayer, StepMeta};

impl Builder {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn copy(
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
            for w in ws {
                if args.keyword == "ADD" && add::is_git(&w) {
                    return Err(at(format!(
                        "ADD {w}: git sources are not supported by berth yet; RUN git clone instead"
                    )));
                }
                patterns.push(if args.keyword == "ADD" && add::is_url(&w) {
                    Pattern::Url(w)
                } else {
                    Pattern::Path(w)
                });
            }
        }
        if args.checksum.is_some() && !patterns.iter().any(|p| matches!(p, Pattern::Url(_))) {
            return Err(at(
                "ADD --checksum needs an http:// or https:// source".into()
            ));
        }
        let mut excludes = String::new();
        for e in &args.exclude {
            let (w, u) = run.state.word(e).map_err(at)?;
            used.extend(u);
            excludes.push_str(&w);
            excludes.push('\n');
        }
        let exclude = Exclude::parse(&excludes)
            .map_err(|e| at(format!("{} --exclude: {e}", args.keyword)))?;
        let scratch = tempfile::tempdir()
            .map_err(|e| at(format!("{}: a temporary dir: {e}", args.keyword)))?;
        // Downloads happen here, on the runtime; each into a directory of its own
        // so two URLs with one file name do not collide.
        let mut downloads = Vec::new();
        for (k, p) in patterns.iter().enumerate() {
            if let Pattern::Url(url) = p {
                let dir = scratch.path().join(format!("url-{k}"));
                std::fs::create_dir(&dir).map_err(|e| at(format!("ADD {url}: {e}")))?;
                let got = add::download(url, &dir, args.checksum.as_deref())
                    .await
                    .map_err(|e| at(format!("ADD {e}")))?;
                downloads.push((url.clone(), got));
            }
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
        let parents = args.parents;
        let line = step.line;
        // Resolve sources, owner and parents, and checksum everything, off the runtime.
        let prepared = tokio::task::spawn_blocking(move || -> Result<Prepared, BuildError> {
            let at = |message: String| BuildError::Step { line, message };
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
                        sources.push(Source::new(path, format!("<<{name}")));
                    }
                    Pattern::Url(url) => {
                        if let Some((_, d)) = downloads.iter().find(|(u, _)| u == url) {
                            sources.push(Source::new(d.path.clone(), url.clone()));
                        }
                    }
                    Pattern::Path(p) => match &from_view {
                        Some(v) => {
                            let host = resolve_in(&v.root(), p, true)?;
                            if std::fs::symlink_metadata(&host).is_err() {
                                return Err(BuildError::MissingSource(p.clone()));
                            }
                            let name = p.trim_start_matches('/').to_string();
                            let under = parents.then(|| parents_of(p, &name, host.is_dir()));
                            sources.push(Source {
                                under,
                                ..Source::new(host, format!("from:{name}"))
                            });
                        }
                        None => {
                            for rel in ctx2.sources(p)? {
                                let name = rel.display().to_string();
                                if !name.is_empty() && exclude.excludes(&name) {
                                    continue;
                                }
                                let host = ctx2.resolve_path(&name, true)?;
                                let under = parents.then(|| parents_of(p, &name, host.is_dir()));
                                let name = if name.is_empty() { ".".into() } else { name };
                                let mut src = Source {
                                    under,
                                    ..Source::new(host, name)
                                };
                                if keyword == "ADD" && src.host.is_file() && add::is_tar(&src.host)
                                {
                                    let dir =
                                        scratch.path().join(format!("unpack-{}", sources.len()));
                                    std::fs::create_dir(&dir)
                                        .and_then(|_| {
                                            use std::os::unix::fs::PermissionsExt;
                                            std::fs::set_permissions(
                                                &dir,
                                                std::fs::Permissions::from_mode(0o755),
                                            )
                                        })
                                        .and_then(|_| add::unpack(&src.host, &dir))
                                        .map_err(|e| {
                                            at(format!("ADD {}: unpacking: {e}", src.name))
                                        })?;
                                    src.host = dir;
                                    src.keep_owner = true;
                                }
                                sources.push(src);
                            }
                        }
                    },
                }
            }
            let files = checksums(&sources, &exclude)
                .map_err(|e| at(format!("{keyword}: reading the sources: {e}")))?;
            Ok(Prepared {
                _from_view: from_view,
                sources,
                files,
                dest_abs,
                several,
                chown,
                exclude,
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
            parent: run.parent_key(),
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
}

/// `COPY --parents`: the directories a source keeps below dest — its path in the
/// context (a directory itself, a file its parent), or only the part after a
/// `/./` in the pattern.
fn parents_of(pattern: &str, name: &str, is_dir: bool) -> String {
    let kept = match pattern.trim_start_matches('/').split_once("/./") {
        Some((pivot, _)) => {
            let pivot = pivot.trim_start_matches("./");
            name.strip_prefix(pivot)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(name)
        }
        None => name,
    };
    if is_dir {
        kept.to_string()
    } else {
        match kept.rsplit_once('/') {
            Some((dir, _)) => dir.to_string(),
            None => String::new(),
        }
    }
}

/// WORKDIR's layer: the directories of `wd` the image at `root` lacks, owned by
/// `user` (BuildKit's rule); `None` when it is all there.
pub(super) fn workdir_layer(
    root: &std::path::Path,
    wd: &str,
    user: &str,
) -> Result<Option<CopyLayer>, String> {
    let mut missing = Vec::new();
    let mut cur = String::new();
    for c in wd.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        if std::fs::symlink_metadata(root.join(cur.trim_start_matches('/'))).is_err() {
            missing.push(cur.clone());
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    let owner = if user.is_empty() {
        (0, 0)
    } else {
        owner_of(root, user).map_err(|e| format!("WORKDIR {wd}: USER {e}"))?
    };
    Ok(Some(CopyLayer {
        sources: Vec::new(),
        dest: "/".into(),
        dest_is_dir: true,
        owner: None,
        chmod: None,
        missing_parents: missing,
        parents_owner: owner,
        exclude: Exclude::default(),
    }))
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
pub(super) enum From {
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
    Url(String),
}

pub(super) struct CopyArgs {
    pub sources: Vec<String>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub heredocs: Vec<Heredoc>,
    pub from: Option<(From, Option<Digest>)>,
    pub keyword: &'static str,
    pub checksum: Option<String>,
    pub exclude: Vec<String>,
    pub parents: bool,
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
    exclude: Exclude,
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
            parents_owner: (0, 0),
            exclude: self.exclude.clone(),
        })
    }
}
