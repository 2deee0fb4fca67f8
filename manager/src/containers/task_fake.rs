//! Recording fake of [`Tasks`] for unit tests, and a [`Containers`] built on
//! it. Every call is kept as one readable line (`create c1`, `kill c1 15`,
//! `delete c1 force`); tasks left by an earlier berthd are scripted
//! (running, exited while it was down, gone with or without a recorded
//! exit); an init exits when the test says so, or on a signal it does not
//! ignore (as 128 + the signal), like a real one.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::watch;

use super::image_source::{ImageError, ImageInfo, ImageSource};
use super::record::{Container, Spec, State, Status};
use super::{CommitRequest, Containers, ExecHandle, Settings, TaskHandle, Tasks};
use crate::events::Events;
use crate::metadata::{Store, Table};
use crate::tasks::{
    AttachOptions, Attached, CreateTask, ExecSpec, ExitStatus, ProcessInfo, ProcessState, Stats,
    TaskError, TaskStatus,
};
use crate::volumes::Volumes;

/// What tasks and the test share.
#[derive(Default)]
struct Shared {
    calls: Vec<String>,
    /// Ids with a state dir left (live or dead).
    dirs: BTreeSet<String>,
    /// "exit.json": outlives the task.
    recorded: HashMap<String, ExitStatus>,
    /// Signals an init survives (no handler, as PID 1 of its namespace).
    ignored: HashSet<i32>,
    next_pid: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub(super) struct FakeTasks {
    shared: Arc<Mutex<Shared>>,
    live: Mutex<HashMap<String, Arc<FakeTask>>>,
    /// Ids whose next create fails with a shim error.
    failing: Mutex<HashSet<String>>,
}

pub(super) struct FakeTask {
    id: String,
    shared: Arc<Mutex<Shared>>,
    state: Mutex<(TaskStatus, u32)>,
    exit: watch::Sender<Option<ExitStatus>>,
}

fn exit_status(pid: u32, code: i32, signal: Option<i32>) -> ExitStatus {
    ExitStatus {
        pid,
        code,
        signal,
        exited_at: Utc::now(),
        oom_killed: false,
    }
}

impl FakeTasks {
    pub(super) fn new() -> Arc<FakeTasks> {
        let f = FakeTasks::default();
        // Above any pid_max: `stop` reads /proc/<pid>, which must not find a
        // real process.
        lock(&f.shared).next_pid = 1_000_000_000;
        Arc::new(f)
    }

    /// Every call so far, oldest first.
    pub(super) fn calls(&self) -> Vec<String> {
        lock(&self.shared).calls.clone()
    }

    /// Calls so far that start with `prefix`.
    pub(super) fn calls_of(&self, prefix: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    /// Inits survive `sig` from now on.
    pub(super) fn ignore_signal(&self, sig: i32) {
        lock(&self.shared).ignored.insert(sig);
    }

    /// The next create of `id` fails, as a shim whose runtime refused.
    pub(super) fn fail_create(&self, id: &str) {
        lock(&self.failing).insert(id.to_string());
    }

    /// The live task `id`; panics (a test bug) without one.
    pub(super) fn task(&self, id: &str) -> Arc<FakeTask> {
        match lock(&self.live).get(id) {
            Some(t) => Arc::clone(t),
            None => panic!("fake: no live task {id}"),
        }
    }

    /// The container's process exits with `code`.
    pub(super) fn exit(&self, id: &str, code: i32) {
        self.task(id).exit_with(code, None);
    }

    /// A task an earlier berthd left running.
    pub(super) fn left_running(&self, id: &str, pid: u32) {
        let t = self.insert(id);
        *lock(&t.state) = (TaskStatus::Running, pid);
    }

    /// A task whose shim and runtime created the init, which never started
    /// (a `start` cut short).
    pub(super) fn left_created(&self, id: &str, pid: u32) {
        let t = self.insert(id);
        *lock(&t.state) = (TaskStatus::Created, pid);
    }

    /// A task left running with its cgroup frozen.
    pub(super) fn left_frozen(&self, id: &str, pid: u32) {
        let t = self.insert(id);
        *lock(&t.state) = (TaskStatus::Paused, pid);
    }

    /// A task whose shim lives on but whose init exited while berthd was down.
    pub(super) fn left_stopped(&self, id: &str, pid: u32, code: i32) {
        let t = self.insert(id);
        *lock(&t.state) = (TaskStatus::Running, pid);
        t.exit_with(code, None);
    }

    /// A shim that is gone, leaving its state dir (and `exit.json` when
    /// `recorded` is given).
    pub(super) fn left_dead(&self, id: &str, recorded: Option<i32>) {
        let mut s = lock(&self.shared);
        s.dirs.insert(id.to_string());
        if let Some(code) = recorded {
            s.recorded
                .insert(id.to_string(), exit_status(4242, code, None));
        }
    }

    fn insert(&self, id: &str) -> Arc<FakeTask> {
        let t = Arc::new(FakeTask {
            id: id.to_string(),
            shared: Arc::clone(&self.shared),
            state: Mutex::new((TaskStatus::Created, 0)),
            exit: watch::channel(None).0,
        });
        lock(&self.shared).dirs.insert(id.to_string());
        lock(&self.live).insert(id.to_string(), Arc::clone(&t));
        t
    }

    fn record(&self, call: String) {
        lock(&self.shared).calls.push(call);
    }
}

impl FakeTask {
    fn record(&self, call: String) {
        lock(&self.shared).calls.push(call);
    }

    fn exit_with(&self, code: i32, signal: Option<i32>) {
        if self.exit.borrow().is_some() {
            return;
        }
        let pid = {
            let mut st = lock(&self.state);
            st.0 = TaskStatus::Stopped;
            st.1
        };
        let status = exit_status(pid, code, signal);
        lock(&self.shared)
            .recorded
            .insert(self.id.clone(), status.clone());
        self.exit.send_replace(Some(status));
    }

    fn unsupported(&self, what: &str) -> TaskError {
        TaskError::FailedPrecondition {
            id: self.id.clone(),
            message: format!("fake task: no {what}"),
        }
    }
}

#[async_trait]
impl Tasks for FakeTasks {
    async fn create(&self, spec: CreateTask) -> Result<Arc<dyn TaskHandle>, TaskError> {
        self.record(format!("create {}", spec.id));
        if lock(&self.failing).remove(&spec.id) {
            return Err(TaskError::Shim {
                id: spec.id,
                message: "runtime create: exec format error".into(),
            });
        }
        if lock(&self.shared).dirs.contains(&spec.id) {
            return Err(TaskError::AlreadyExists {
                id: spec.id,
                message: "state dir exists".into(),
            });
        }
        Ok(self.insert(&spec.id))
    }

    async fn connect(&self, id: &str) -> Result<Arc<dyn TaskHandle>, TaskError> {
        self.record(format!("connect {id}"));
        if let Some(t) = lock(&self.live).get(id) {
            return Ok(Arc::clone(t) as Arc<dyn TaskHandle>);
        }
        if lock(&self.shared).dirs.contains(id) {
            return Err(TaskError::Unreachable {
                id: id.to_string(),
                address: PathBuf::from("/fake/shim.sock"),
                message: "connection refused".into(),
            });
        }
        Err(TaskError::NotFound {
            id: id.to_string(),
            message: "no shim address".into(),
        })
    }

    fn list(&self) -> Result<Vec<String>, TaskError> {
        Ok(lock(&self.shared).dirs.iter().cloned().collect())
    }

    fn recorded_exit(&self, id: &str) -> Result<Option<ExitStatus>, TaskError> {
        Ok(lock(&self.shared).recorded.get(id).cloned())
    }

    async fn cleanup_dead(&self, id: &str) -> Result<(), TaskError> {
        self.record(format!("cleanup_dead {id}"));
        lock(&self.live).remove(id);
        let mut s = lock(&self.shared);
        s.dirs.remove(id);
        s.recorded.remove(id);
        Ok(())
    }

    fn has_state(&self, id: &str) -> bool {
        lock(&self.shared).dirs.contains(id)
    }
}

#[async_trait]
impl TaskHandle for FakeTask {
    async fn start(&self) -> Result<u32, TaskError> {
        self.record(format!("start {}", self.id));
        let pid = {
            let mut s = lock(&self.shared);
            s.next_pid += 1;
            s.next_pid
        };
        *lock(&self.state) = (TaskStatus::Running, pid);
        Ok(pid)
    }

    async fn state(&self) -> Result<ProcessState, TaskError> {
        let (status, pid) = *lock(&self.state);
        Ok(ProcessState {
            id: self.id.clone(),
            exec_id: None,
            bundle: PathBuf::new(),
            pid,
            status,
            stdin: false,
            tty: false,
            exit: self.exit.borrow().clone(),
        })
    }

    async fn kill(&self, signal: i32, all: bool) -> Result<(), TaskError> {
        let all = if all { " all" } else { "" };
        self.record(format!("kill {} {signal}{all}", self.id));
        let ignored = lock(&self.shared).ignored.contains(&signal);
        if !ignored && signal != 0 {
            self.exit_with(128 + signal, Some(signal));
        }
        Ok(())
    }

    async fn wait(&self) -> Result<ExitStatus, TaskError> {
        let mut rx = self.exit.subscribe();
        let status = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| self.unsupported("exit"))?;
        Ok(status.clone().unwrap_or_else(|| exit_status(0, 255, None)))
    }

    async fn exec(&self, _spec: ExecSpec) -> Result<Arc<dyn ExecHandle>, TaskError> {
        Err(self.unsupported("exec"))
    }

    async fn attach(&self, _opts: AttachOptions) -> Result<Attached, TaskError> {
        Err(self.unsupported("stdio"))
    }

    async fn resize(&self, _width: u32, _height: u32) -> Result<(), TaskError> {
        Err(self.unsupported("tty"))
    }

    async fn pids(&self) -> Result<Vec<ProcessInfo>, TaskError> {
        let pid = lock(&self.state).1;
        Ok(vec![ProcessInfo { pid, exec_id: None }])
    }

    async fn pause(&self) -> Result<(), TaskError> {
        self.record(format!("pause {}", self.id));
        lock(&self.state).0 = TaskStatus::Paused;
        Ok(())
    }

    async fn resume(&self) -> Result<(), TaskError> {
        self.record(format!("resume {}", self.id));
        lock(&self.state).0 = TaskStatus::Running;
        Ok(())
    }

    async fn stats(&self) -> Result<Stats, TaskError> {
        Ok(Stats::default())
    }

    async fn delete(&self, force: bool) -> Result<ExitStatus, TaskError> {
        self.record(format!(
            "delete {}{}",
            self.id,
            if force { " force" } else { "" }
        ));
        if self.exit.borrow().is_none() {
            if !force {
                return Err(TaskError::FailedPrecondition {
                    id: self.id.clone(),
                    message: "container is running".into(),
                });
            }
            self.exit_with(128 + libc::SIGKILL, Some(libc::SIGKILL));
        }
        // The shim removes its state dir on shutdown; exit.json goes with it.
        {
            let mut s = lock(&self.shared);
            s.dirs.remove(&self.id);
            s.recorded.remove(&self.id);
        }
        self.wait().await
    }
}

/// An image source with nothing to mount: the fake runs no process.
struct NoImages;

impl ImageSource for NoImages {
    fn resolve(&self, reference: &str) -> Result<ImageInfo, ImageError> {
        Err(ImageError::NotFound {
            reference: reference.to_string(),
        })
    }

    fn prepare_rootfs(
        &self,
        _: &str,
        image_id: &str,
        _: Option<crate::snapshots::IdShift>,
    ) -> Result<PathBuf, ImageError> {
        Err(ImageError::NotFound {
            reference: image_id.to_string(),
        })
    }

    fn mount_rootfs(&self, _: &str) -> Result<(), ImageError> {
        Ok(())
    }

    fn remove_rootfs(&self, _: &str) -> Result<(), ImageError> {
        Ok(())
    }

    fn rootfs_ids(&self) -> Result<Vec<String>, ImageError> {
        Ok(Vec::new())
    }

    fn commit(&self, c: &Container, _: &CommitRequest) -> Result<String, ImageError> {
        Err(ImageError::NotFound {
            reference: c.image_id.clone(),
        })
    }

    fn export_rootfs(&self, id: &str, _: &mut dyn std::io::Write) -> Result<(), ImageError> {
        Err(ImageError::Other {
            message: format!("fake images: no rootfs for {id}"),
        })
    }
}

/// [`Containers`] over `tasks`, with its root in a temp dir.
pub(super) struct Harness {
    pub containers: Containers,
    pub tasks: Arc<FakeTasks>,
    root: tempfile::TempDir,
}

impl Harness {
    pub(super) fn new() -> Harness {
        let root = tempfile::tempdir().expect("temp dir");
        let store = Store::open(root.path()).expect("store");
        let tasks = FakeTasks::new();
        let containers = Containers::new(
            Settings {
                root: root.path().to_path_buf(),
                log_max_size: 1 << 20,
                log_max_file: 1,
                default_network: super::NetworkMode::None,
                init_path: None,
                confinement: Default::default(),
            },
            store.clone(),
            Arc::clone(&tasks) as Arc<dyn Tasks>,
            Arc::new(NoImages),
            Volumes::new(root.path(), store),
            Events::new(),
        );
        Harness {
            containers,
            tasks,
            root,
        }
    }

    /// Stores a created container `id` (with a bundle, as `create` leaves
    /// it); `f` adjusts the record first.
    pub(super) fn add(&self, id: &str, f: impl FnOnce(&mut Container)) -> Container {
        let dir = self.root.path().join("containers").join(id);
        std::fs::create_dir_all(&dir).expect("container dir");
        std::fs::write(dir.join("config.json"), "{}").expect("config.json");
        let mut c = Container {
            id: id.into(),
            name: format!("name-{id}"),
            created: Utc::now(),
            spec: Spec::default(),
            image_id: String::new(),
            path: "true".into(),
            args: vec![],
            env: vec![],
            working_dir: String::new(),
            user: String::new(),
            hostname: String::new(),
            stop_signal: String::new(),
            stop_timeout: 10,
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            intent: None,
            mounts: vec![],
            log_path: dir.join("log.json"),
            dir,
            healthcheck: None,
        };
        f(&mut c);
        self.containers.save(&c).expect("saving the record");
        self.containers
            .inner
            .store
            .put(Table::ContainerNames, &c.name, &c.id)
            .expect("name");
        c
    }

    pub(super) fn get(&self, id: &str) -> Container {
        self.containers.lookup(id).expect("container record")
    }

    /// Waits (on the test's clock) until `id`'s record satisfies `f`.
    pub(super) async fn until(&self, id: &str, f: impl Fn(&Container) -> bool) -> Container {
        let mut rx = self.containers.watch();
        loop {
            let c = self.get(id);
            if f(&c) {
                return c;
            }
            let changed = tokio::time::timeout(std::time::Duration::from_secs(20), rx.changed());
            if changed.await.is_err() {
                panic!("{id} never got there; last record: {:?}", c.state);
            }
        }
    }
}

/// A record that is running under the fake task of the same id.
pub(super) fn running(c: &mut Container) {
    c.state.status = Status::Running;
    c.state.pid = 4242;
    c.state.started_at = Some(Utc::now());
}
