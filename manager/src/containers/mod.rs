//! containers: container records, their OCI bundles, and their lifecycle.
//!
//! A container is a record in `Table::Containers` (name reserved in
//! `Table::ContainerNames` in the same transaction), a directory
//! `<root>/containers/<id>/` (config.json, the rootfs mount point, hosts files,
//! the json-file log) and, while it runs, a task (its shim, see `tasks`).
//!
//! # Lifecycle and invariants
//! * `create` reserves the name and writes the record first (so two creates
//!   cannot take one name), then prepares the rootfs, the volumes and the
//!   bundle; any failure undoes all of it, so no half-created container stays.
//!   A crash in between leaves a record without `config.json`, which `restore`
//!   removes on the next start.
//! * `start` spawns a shim (`Tasks::create`), hands the new task to
//!   clients waiting in `attach`, then runs the process; a monitor waits for the
//!   exit, records it, deletes the task (no shim, no cgroup left), and applies
//!   the restart policy with exponential back-off.
//! * berthd can die at any time: the shims keep running and keep writing the
//!   logs. `restore` reconnects to them (live-restore, always on) and resumes
//!   the monitors; an exit that happened meanwhile is read from the shim.
//! * Every change of a record bumps a watch counter, so `wait` and `stop` block
//!   without polling.
//! * A running container with a health check has a health monitor beside its
//!   exit monitor (`health/`): probes run as execs, results fold into the
//!   record's `State::health`.
//!
//! One file per verb; each is an `impl Containers` block.

mod attach;
mod bundle;
mod commit;
mod copy;
mod create;
mod exec;
mod export;
mod health;
mod image_source;
mod list;
mod logs;
mod monitor;
mod names;
mod pause;
mod record;
mod remove;
mod rename;
mod restore;
mod start;
mod stats;
mod stop;
#[cfg(test)]
mod task_fake;
mod task_seam;
mod top;
mod validate;
mod wait;

pub use attach::{AttachFuture, AttachHandle, AttachRequest};
pub use bundle::BundleError;
pub use commit::CommitRequest;
pub use exec::{ExecInfo, ExecOptions, StartedExec};
pub use health::{Health, HealthConfig, HealthResult, HealthStatus};
pub use image_source::{ImageError, ImageInfo, ImageSource, LocalImages};
pub use logs::{LogEntry, LogOptions};
pub use record::{
    Container, Intent, MountKind, MountPoint, MountSpec, NetworkMode, Resources, RestartPolicy,
    Spec, State, Status, TmpfsOptions, DEFAULT_STOP_TIMEOUT,
};
pub use stop::{parse_signal, StopOutcome};
pub use task_seam::{ExecHandle, TaskHandle, Tasks};
pub use wait::WaitResult;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

pub use crate::errors::{Classify, ErrorKind, Reason};
use crate::events::Events;
use crate::metadata::{self, Store, Table};
use crate::restricted_name::shown;
use crate::tasks::TaskError;
use crate::volumes::{self, Volumes};

/// Errors of container operations. Display texts are docker's where docker has one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such container: {}", shown(reference))]
    NotFound { reference: String },
    #[error("No such exec instance: {id}")]
    NoSuchExec { id: String },
    #[error("Could not find the file {path} in container {container}")]
    PathNotFound { path: String, container: String },
    #[error("multiple containers match {reference:?}: use more characters of the ID or the name")]
    Ambiguous { reference: String },
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({}): {}", shown(name), problem.hint())]
    InvalidName {
        name: String,
        problem: crate::restricted_name::Problem,
    },
    #[error("No such image: {reference}")]
    NoSuchImage { reference: String },
    #[error("image {reference}: {message}")]
    Image { reference: String, message: String },
    #[error(
        "No command specified (the image has no CMD or ENTRYPOINT: give one after the image name)"
    )]
    NoCommand,
    #[error("{message}")]
    InvalidArgument { message: String },
    #[error("Container {name} is not running")]
    NotRunning { name: String },
    #[error("Container {name} is paused. Unpause the container before stopping or killing")]
    Paused { name: String },
    #[error("Container {name} is already paused")]
    AlreadyPaused { name: String },
    #[error("You cannot remove a running container {name}. Stop the container before attempting removal or force remove")]
    Running { name: String },
    #[error("Container {name} is restarting, wait until the container is running")]
    Restarting { name: String },
    /// A blocking step of a verb did not finish (it panicked or berthd is
    /// shutting down); the details are in berthd's log.
    #[error(
        "{operation} container {name} was interrupted inside berthd; see berthd's log, then retry"
    )]
    Interrupted {
        operation: &'static str,
        name: String,
    },
    #[error("container {id}: {path}: {source}")]
    Io {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
    /// docker's text: the cause alone (the user knows which container).
    #[error("{source}")]
    Bundle {
        id: String,
        #[source]
        source: BundleError,
    },
    /// What the shim or the runtime under it said, about container `name`.
    #[error("container {name}: {}", source.detail())]
    Task { name: String, source: TaskError },
    /// The shims' state cannot be read (at restore, before any container).
    #[error("reading the shims' state: {}", .0.detail())]
    Shims(TaskError),
    /// The first run of the container's process failed.
    #[error("failed to start container {name}: {}", source.detail())]
    StartFailed { name: String, source: TaskError },
    #[error(transparent)]
    Security(#[from] crate::security::Error),
    #[error(transparent)]
    Volume(#[from] volumes::Error),
    #[error(transparent)]
    Store(#[from] metadata::Error),
}

impl Classify for Error {
    fn reason(&self) -> Reason {
        match self {
            Error::NotFound { .. } | Error::PathNotFound { .. } | Error::NoSuchExec { .. } => {
                Reason::NotFound
            }
            Error::NoSuchImage { .. } => Reason::NoSuchImage,
            Error::NameInUse { .. } => Reason::AlreadyExists,
            Error::InvalidName { .. }
            | Error::NoCommand
            | Error::InvalidArgument { .. }
            | Error::Ambiguous { .. }
            | Error::Bundle { .. }
            | Error::Security(_) => Reason::InvalidArgument,
            Error::NotRunning { .. } => Reason::NotRunning,
            Error::Paused { .. }
            | Error::AlreadyPaused { .. }
            | Error::Running { .. }
            | Error::Restarting { .. } => Reason::Conflict,
            Error::Volume(e) => e.reason(),
            Error::Task { source, .. }
            | Error::StartFailed { source, .. }
            | Error::Shims(source) => source.reason(),
            Error::Image { .. }
            | Error::Io { .. }
            | Error::Store(_)
            | Error::Interrupted { .. } => Reason::Internal,
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Error::NotFound { reference }
            | Error::Ambiguous { reference }
            | Error::NoSuchImage { reference }
            | Error::Image { reference, .. } => Some(reference),
            Error::NameInUse { name, .. } | Error::InvalidName { name, .. } => Some(name),
            Error::NotRunning { name }
            | Error::Paused { name }
            | Error::AlreadyPaused { name }
            | Error::Running { name }
            | Error::Restarting { name }
            | Error::Interrupted { name, .. }
            | Error::Task { name, .. }
            | Error::StartFailed { name, .. } => Some(name),
            Error::Io { id, .. } | Error::Bundle { id, .. } => Some(id),
            Error::PathNotFound { path, .. } => Some(path),
            Error::NoSuchExec { id } => Some(id),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the container module taken from the daemon config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// berthd's `--root`.
    pub root: PathBuf,
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// What `--network` (or its absence) means: none or host for now.
    pub default_network: NetworkMode,
    /// The init binary for `--init` (statically linked, bind-mounted in).
    pub init_path: Option<PathBuf>,
    /// The daemon's seccomp profile and user-namespace remap.
    pub confinement: crate::security::Defaults,
}

/// A task the daemon holds for a running container.
#[derive(Clone)]
struct Live {
    task: Arc<dyn TaskHandle>,
    /// Distinguishes runs of one container, so a late exit of an old run
    /// does not touch a restarted one.
    epoch: u64,
}

struct Inner {
    settings: Settings,
    store: Store,
    tasks: Arc<dyn Tasks>,
    images: Arc<dyn ImageSource>,
    volumes: Volumes,
    events: Events,
    live: Mutex<HashMap<String, Live>>,
    /// Per-container lock serialising lifecycle verbs (start/stop/rm/...).
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Attach clients waiting for the next start of a container.
    pending_attach: Mutex<HashMap<String, Vec<attach::Pending>>>,
    /// Attach streams being served, per container (the monitor lets them
    /// drain before deleting the task).
    attached: Mutex<HashMap<String, usize>>,
    execs: Mutex<HashMap<String, exec::ExecEntry>>,
    /// Restart back-off per container.
    backoff: Mutex<HashMap<String, std::time::Duration>>,
    /// Last exit of recently removed containers (for `wait` on `--rm`).
    exits: Mutex<HashMap<String, (i32, bool, String)>>,
    /// The health monitor of each running container that has a check.
    health: Mutex<HashMap<String, health::Monitor>>,
    changed: watch::Sender<u64>,
    epoch: std::sync::atomic::AtomicU64,
}

/// The container manager. Cheap to clone.
#[derive(Clone)]
pub struct Containers {
    inner: Arc<Inner>,
}

impl Containers {
    pub fn new(
        settings: Settings,
        store: Store,
        tasks: Arc<dyn Tasks>,
        images: Arc<dyn ImageSource>,
        volumes: Volumes,
        events: Events,
    ) -> Containers {
        let (changed, _) = watch::channel(0);
        Containers {
            inner: Arc::new(Inner {
                settings,
                store,
                tasks,
                images,
                volumes,
                events,
                live: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                pending_attach: Mutex::new(HashMap::new()),
                attached: Mutex::new(HashMap::new()),
                execs: Mutex::new(HashMap::new()),
                backoff: Mutex::new(HashMap::new()),
                exits: Mutex::new(HashMap::new()),
                health: Mutex::new(HashMap::new()),
                changed,
                epoch: std::sync::atomic::AtomicU64::new(1),
            }),
        }
    }

    /// `<root>/containers`.
    pub fn dir(&self) -> PathBuf {
        self.inner.settings.root.join("containers")
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.dir().join(id)
    }

    /// Finds a container by full ID, name (with or without a leading `/`) or
    /// unique ID prefix.
    pub fn lookup(&self, reference: &str) -> Result<Container> {
        let not_found = || Error::NotFound {
            reference: reference.to_string(),
        };
        let r = reference.strip_prefix('/').unwrap_or(reference);
        if r.is_empty() {
            return Err(not_found());
        }
        if let Some(c) = self.inner.store.get::<Container>(Table::Containers, r)? {
            return Ok(c);
        }
        if let Some(id) = self.inner.store.get::<String>(Table::ContainerNames, r)? {
            if let Some(c) = self.inner.store.get::<Container>(Table::Containers, &id)? {
                return Ok(c);
            }
        }
        if !r.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut matches = self
            .inner
            .store
            .list_prefix::<Container>(Table::Containers, r)?;
        match matches.len() {
            0 => Err(not_found()),
            1 => Ok(matches.remove(0).1),
            _ => Err(Error::Ambiguous {
                reference: reference.to_string(),
            }),
        }
    }

    /// Every stored container.
    pub fn all(&self) -> Result<Vec<Container>> {
        Ok(self
            .inner
            .store
            .list::<Container>(Table::Containers)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Writes the record and wakes waiters.
    #[cfg(test)]
    fn save(&self, c: &Container) -> Result<()> {
        self.inner.store.put(Table::Containers, &c.id, c)?;
        self.inner.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Re-reads, changes and writes one record; `None` if it is gone.
    fn modify(&self, id: &str, f: impl FnOnce(&mut Container)) -> Result<Option<Container>> {
        let out = self.inner.store.update(|tx| {
            let Some(mut c) = tx.get::<Container>(Table::Containers, id)? else {
                return Ok::<_, metadata::Error>(None);
            };
            f(&mut c);
            tx.put(Table::Containers, id, &c)?;
            Ok(Some(c))
        })?;
        self.inner.changed.send_modify(|n| *n += 1);
        Ok(out)
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }

    fn live_task(&self, id: &str) -> Option<Live> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn set_live(&self, id: &str, live: Option<Live>) {
        let mut m = self.inner.live.lock().unwrap_or_else(|e| e.into_inner());
        match live {
            Some(l) => {
                m.insert(id.to_string(), l);
            }
            None => {
                m.remove(id);
            }
        }
    }

    fn next_epoch(&self) -> u64 {
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn publish(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: HashMap<String, String> = c
            .spec
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attrs.insert("name".into(), c.name.clone());
        attrs.insert("image".into(), c.spec.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.inner.events.publish("container", action, &c.id, attrs);
    }

    /// A receiver that changes whenever any record changes.
    fn watch(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// The tasks (for system-wide reports).
    pub fn tasks(&self) -> &dyn Tasks {
        self.inner.tasks.as_ref()
    }
}

/// Maps a task error of container `name` (what users see names it).
fn task_err(name: &str) -> impl FnOnce(TaskError) -> Error {
    let name = name.to_string();
    move |source| Error::Task { name, source }
}

/// Maps a failed blocking step to [`Error::Interrupted`], logging the cause
/// (a panic's message is for berthd's log, not for the user).
fn interrupted(
    operation: &'static str,
    name: &str,
) -> impl FnOnce(tokio::task::JoinError) -> Error {
    let name = name.to_string();
    move |e| {
        tracing::error!(container = %name, operation, error = %e, "blocking step did not finish");
        Error::Interrupted { operation, name }
    }
}

fn io_err(id: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let (id, path) = (id.to_string(), path.to_path_buf());
    move |source| Error::Io { id, path, source }
}
