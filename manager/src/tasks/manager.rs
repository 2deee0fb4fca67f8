//! [`TaskManager`]: spawns shims, and finds them again after a berthd restart.

use std::path::{Path, PathBuf};

use berth_proto::shim::v1::task_client::TaskClient;
use berth_proto::shim_state::{self, ExitRecord, ShortPath};
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use super::convert::{exit_from_pb, status_to_error};
use super::error::TaskError;
use super::task::Task;
use super::types::{CreateTask, ExitStatus};

/// How long a shim may take to report ready after being spawned.
const SPAWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a reconnected shim may take to answer.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Spawns and reconnects to shims. Cheap to clone.
///
/// Layout under `state_dir` (berthd's `--state`, `/run/berth` by default):
/// `shims/<id>/` is each shim's state dir (its files are the contract in
/// `berth_proto::shim_state`), `runtime/` is the runtime's `--root`.
#[derive(Debug, Clone)]
pub struct TaskManager {
    state_dir: PathBuf,
    runtime: PathBuf,
    shim: PathBuf,
}

impl TaskManager {
    /// `state_dir`: berthd's state dir; `runtime_path`: the OCI runtime binary
    /// (runc CLI); `shim_path`: the `berth-shim` binary.
    pub fn new(
        state_dir: impl Into<PathBuf>,
        runtime_path: impl Into<PathBuf>,
        shim_path: impl Into<PathBuf>,
    ) -> Self {
        TaskManager {
            state_dir: state_dir.into(),
            runtime: runtime_path.into(),
            shim: shim_path.into(),
        }
    }

    /// The state dir of task `id`'s shim (`<state>/shims/<id>`).
    pub fn shim_dir(&self, id: &str) -> PathBuf {
        self.state_dir.join("shims").join(id)
    }

    /// The runtime's `--root` (`<state>/runtime`).
    pub fn runtime_root(&self) -> PathBuf {
        self.state_dir.join("runtime")
    }

    /// Spawns a shim for `spec` and creates the container (`<runtime> create`).
    /// The shim is detached from berthd (double fork + setsid) before this
    /// returns. On failure the shim is shut down again and its state dir
    /// removed. `AlreadyExists` when a shim for this id is there already.
    pub async fn create(&self, spec: CreateTask) -> Result<Task, TaskError> {
        let id = spec.id.clone();
        validate_id(&id)?;
        let dir = self.shim_dir(&id);
        // Creating the dir is the atomic claim on the id: two creates of one
        // id cannot both get past here.
        let parent = self.state_dir.join("shims");
        std::fs::create_dir_all(&parent).map_err(|source| TaskError::Io {
            id: id.clone(),
            path: parent,
            source,
        })?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(TaskError::AlreadyExists {
                    id,
                    message: format!("shim state dir {} exists", dir.display()),
                })
            }
            Err(source) => {
                return Err(TaskError::Io {
                    id,
                    path: dir,
                    source,
                })
            }
        }
        let address = match self.spawn_shim(&spec, &dir).await {
            Ok(a) => a,
            Err(e) => {
                self.abandon_spawn(&id).await;
                return Err(e);
            }
        };
        let task = match connect_address(&id, &address, &dir).await {
            Ok(t) => t,
            Err(e) => {
                self.abandon_spawn(&id).await;
                return Err(e);
            }
        };
        match task.create(&spec).await {
            Ok(_pid) => Ok(task),
            Err(e) => {
                // Keep the create error; a failed shutdown only leaves a state dir.
                let _ = task.shutdown(true).await;
                Err(e)
            }
        }
    }

    /// Reconnects to the live shim of task `id` (after a berthd restart),
    /// from the address the shim wrote into its state dir. `NotFound` when
    /// there is no state dir; `Unreachable` when the shim is gone.
    pub async fn connect(&self, id: &str) -> Result<Task, TaskError> {
        validate_id(id)?;
        let dir = self.shim_dir(id);
        let addr_file = dir.join(shim_state::ADDRESS_FILE);
        let address = match std::fs::read_to_string(&addr_file) {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TaskError::NotFound {
                    id: id.to_string(),
                    message: format!("no shim address at {}", addr_file.display()),
                })
            }
            Err(source) => {
                return Err(TaskError::Io {
                    id: id.to_string(),
                    path: addr_file,
                    source,
                })
            }
        };
        let task = connect_address(id, &address, &dir).await?;
        // The socket may accept while the shim is half gone or stuck: ask it,
        // and do not let one bad shim hold up berthd's start.
        match tokio::time::timeout(CONNECT_TIMEOUT, task.info()).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(TaskError::Unreachable {
                    id: id.to_string(),
                    address: shim_state::socket_path(&address),
                    message: format!("no answer within {CONNECT_TIMEOUT:?}"),
                })
            }
        };
        Ok(task)
    }

    /// Ids of all tasks with a shim state dir or runtime state (live or
    /// not), for berthd's start-up reconciliation.
    pub fn list(&self) -> Result<Vec<String>, TaskError> {
        let mut ids = std::collections::BTreeSet::new();
        // A shim killed before it removed its runtime state leaves only the latter.
        for dir in [self.state_dir.join("shims"), self.runtime_root()] {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(TaskError::Io {
                        id: String::new(),
                        path: dir,
                        source,
                    })
                }
            };
            ids.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok()),
            );
        }
        Ok(ids.into_iter().collect())
    }

    /// The init's exit status as the shim recorded it in `exit.json`, readable
    /// even when the shim itself is gone. `None` if it has not exited (or no
    /// record exists).
    pub fn recorded_exit(&self, id: &str) -> Result<Option<ExitStatus>, TaskError> {
        validate_id(id)?;
        let dir = self.shim_dir(id);
        match ExitRecord::read(&dir) {
            Ok(r) => Ok(r.map(|r| exit_from_pb(&r.to_pb("")))),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(TaskError::Shim {
                id: id.to_string(),
                message: e.to_string(),
            }),
            Err(source) => Err(TaskError::Io {
                id: id.to_string(),
                path: dir.join(shim_state::EXIT_FILE),
                source,
            }),
        }
    }

    /// Cleans up after a shim that died or stopped answering: kills the shim
    /// process if it is still there, runs `<runtime> delete --force` (kills
    /// what is left of the container, removes its cgroup and runtime state)
    /// and removes the shim's state dir. The last resort: a shim that
    /// answers is removed with [`Task::delete`].
    pub async fn cleanup_dead(&self, id: &str) -> Result<(), TaskError> {
        validate_id(id)?;
        self.kill_shim(id).await;
        let out = tokio::process::Command::new(&self.runtime)
            .arg("--root")
            .arg(self.runtime_root())
            .args(["delete", "--force", id])
            .output()
            .await
            .map_err(|source| TaskError::Spawn {
                id: id.to_string(),
                shim: self.runtime.clone(),
                source,
            })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A shim killed inside its own `runtime delete` can leave the runtime's dir
        // without its state.json: nothing runs there any more, and the runtime
        // refuses to read it. That dir and the shim's go; anything else is an error.
        let runtime_dir = self.runtime_root().join(id);
        let half_deleted = runtime_dir.is_dir() && !runtime_dir.join("state.json").exists();
        if half_deleted {
            let _ = std::fs::remove_dir_all(&runtime_dir);
        }
        if !out.status.success()
            && !half_deleted
            && !stderr.contains("does not exist")
            && !stderr.contains("not exist")
        {
            return Err(TaskError::Shim {
                id: id.to_string(),
                message: format!("runtime delete --force: {}", stderr.trim()),
            });
        }
        let dir = self.shim_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(TaskError::Io {
                id: id.to_string(),
                path: dir,
                source,
            }),
        }
    }

    /// After a spawn that failed or was cut short (its first process killed
    /// or timed out): the detached shim may already be up, with its pid file
    /// written; it is killed before its state dir goes, or it would live on
    /// unreachable, owned by nobody. (One that has not written its pid yet
    /// finds its spawner gone when it reports ready, and exits.)
    async fn abandon_spawn(&self, id: &str) {
        self.kill_shim(id).await;
        let _ = std::fs::remove_dir_all(self.shim_dir(id));
    }

    /// SIGKILLs the shim of `id` if its pid file names a live berth-shim
    /// serving this very state dir (a recycled pid is left alone).
    async fn kill_shim(&self, id: &str) {
        let dir = self.shim_dir(id);
        let Some(pid) = std::fs::read_to_string(dir.join(shim_state::PID_FILE))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let ours = cmdline.contains("berth-shim") && cmdline.contains(&*dir.to_string_lossy());
        if !ours || pid <= 1 {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(pid);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_err() {
            return;
        }
        // It removes nothing when killed; wait for it to be gone so the
        // runtime delete below does not race its last reaps.
        for _ in 0..100 {
            if nix::sys::signal::kill(pid, None).is_err() || is_zombie(pid.as_raw()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Runs the shim binary; it prints its socket address once it is
    /// detached and listening, and exits. Its argv says only where things
    /// are; the stdio options go with the Create call.
    async fn spawn_shim(&self, spec: &CreateTask, dir: &Path) -> Result<String, TaskError> {
        let mut cmd = tokio::process::Command::new(&self.shim);
        cmd.arg("--id")
            .arg(&spec.id)
            .arg("--bundle")
            .arg(&spec.bundle)
            .arg("--runtime")
            .arg(&self.runtime)
            .arg("--state-dir")
            .arg(dir)
            .arg("--runtime-root")
            .arg(self.runtime_root());
        cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
        let spawn_err = |source| TaskError::Spawn {
            id: spec.id.clone(),
            shim: self.shim.clone(),
            source,
        };
        let out = match tokio::time::timeout(SPAWN_TIMEOUT, cmd.output()).await {
            Ok(r) => r.map_err(spawn_err)?,
            Err(_) => {
                return Err(spawn_err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the shim did not report ready within {SPAWN_TIMEOUT:?}"),
                )))
            }
        };
        if !out.status.success() {
            let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(TaskError::Shim {
                id: spec.id.clone(),
                message: format!("shim failed to start ({}): {message}", out.status),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Ids become path components and runtime ids: keep them plain.
fn validate_id(id: &str) -> Result<(), TaskError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(TaskError::InvalidArgument {
            id: id.to_string(),
            message: "task id must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.'"
                .to_string(),
        })
    }
}

/// Opens a gRPC channel to the shim listening at `address` (`unix://<path>`).
async fn connect_address(id: &str, address: &str, dir: &Path) -> Result<Task, TaskError> {
    let path = shim_state::socket_path(address);
    let unreachable = |message: String| TaskError::Unreachable {
        id: id.to_string(),
        address: path.clone(),
        message,
    };
    // The URI is a placeholder: the connector below ignores it.
    let endpoint = Endpoint::from_static("http://berth-shim.invalid");
    let sock = path.clone();
    let channel: Channel = endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let sock = sock.clone();
            async move {
                let stream = connect_unix(&sock).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            unreachable(msg)
        })?;
    Ok(Task::new(
        id.to_string(),
        dir.to_path_buf(),
        TaskClient::new(channel),
    ))
}

/// Maps a status of `id`'s shim (re-exported for `task.rs`).
pub(super) fn map_status(id: &str, s: tonic::Status) -> TaskError {
    status_to_error(id, s)
}

/// Connects to a shim's socket, through a short alias when its path is too
/// long for `sun_path` (the rule the shim binds by).
async fn connect_unix(path: &Path) -> std::io::Result<tokio::net::UnixStream> {
    let short = ShortPath::new(path)?;
    tokio::net::UnixStream::connect(short.path()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process berthd spawns is SIGKILLed (or fails) after the detached
    /// shim wrote its pid file: the start fails, and the detached shim must
    /// not live on without a state dir (crash-cycles --shim, seed 20261202,
    /// cycles 44-45). The stand-in "shim" detaches a copy of itself that
    /// writes its pid file and waits, then exits 1 as a killed first process
    /// would.
    #[tokio::test]
    async fn a_spawn_that_fails_leaves_no_detached_shim() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let shim = tmp.path().join("berth-shim");
        std::fs::write(
            &shim,
            "#!/bin/sh\n\
             dir=$8\n\
             if [ -n \"$DETACHED\" ]; then echo $$ > \"$dir/shim.pid\"; while :; do sleep 0.05; done; fi\n\
             DETACHED=1 \"$0\" \"$@\" </dev/null >/dev/null 2>&1 &\n\
             while [ ! -s \"$dir/shim.pid\" ]; do sleep 0.01; done\n\
             exit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let state = tmp.path().join("state");
        let tm = TaskManager::new(&state, "/bin/false", &shim);
        let err = tm
            .create(CreateTask::new("c1", tmp.path().join("bundle")))
            .await;
        assert!(err.is_err(), "the spawn failed");
        let dir = tm.shim_dir("c1");
        assert!(!dir.exists(), "its state dir is gone");
        // The detached copy wrote its pid into the dir now gone: find it by
        // its command line instead.
        let mut alive = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains(&*dir.to_string_lossy()) && !is_zombie_path(&e.path()) {
                alive.push(e.file_name());
            }
        }
        assert!(alive.is_empty(), "detached shim left running: {alive:?}");
    }

    fn is_zombie_path(p: &Path) -> bool {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<i32>().ok())
            .is_none_or(is_zombie)
    }

    #[test]
    fn ids_are_validated() {
        assert!(validate_id("abc-1_2.x").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("../x").is_err());
        assert!(validate_id(".hidden").is_err());
        assert!(validate_id("a/b").is_err());
    }
}
