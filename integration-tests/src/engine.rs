//! Test support for the `engine_*` suites: a private berthd per test, driven
//! through the `berth` CLI binary the way a user drives it, with the results
//! read back from the kernel (`/proc`, `/sys/fs/cgroup`, `/proc/mounts`) and
//! the disk (the daemon's `--root`).
//!
//! The binaries are the workspace's release builds (`berthd`, `berth`,
//! `berth-shim`, `berth-runtime`), taken from `$BERTH_BIN_DIR`, else from
//! `<workspace>/target/release` (CI builds them first). A missing binary is a
//! test failure naming the build command, never a silent skip; so is a
//! dynamically linked `berth-init` there (plain `cargo build` makes one, and
//! `--init` then fails inside busybox with a bare ENOENT).
//!
//! [`Engine`] owns everything it starts: its temp dir (root, state, socket,
//! daemon.json, logs), the berthd process, and through it the shims and
//! containers. Drop removes all of it even when the test failed halfway, and
//! even when the test left berthd killed: containers go through `rm -f` on a
//! restarted berthd, then whatever still runs from the temp dir is killed by
//! pid, the cgroups are emptied, mounts are detached and the dir is removed.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{io, SupportError};
use crate::runtime::{run_with_timeout, Outcome};

/// Time limit of one CLI call unless the test gives its own.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Numbers the CLI calls' output files.
static SEQ: AtomicU32 = AtomicU32::new(0);
/// Numbers the engines of this test binary (kept apart from SEQ so the temp
/// dir names stay short).
static ENGINES: AtomicU32 = AtomicU32::new(0);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where the release binaries are: `$BERTH_BIN_DIR` or `target/release`.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("BERTH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release"))
}

/// One engine binary, or an error naming how to build it.
pub fn binary(name: &str) -> Result<PathBuf, SupportError> {
    let p = bin_dir().join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(SupportError::MissingBinary {
            binary: p,
            hint: "run scripts/build-release.sh (or `cargo build --release -p berthd -p berth-cli \
                 -p berth-shim -p berth-runtime`), or point BERTH_BIN_DIR at their dir"
                .into(),
        })
    }
}

/// Whether an ELF file asks for a program interpreter (is dynamically linked).
fn has_interpreter(path: &Path) -> Result<bool, SupportError> {
    let elf = std::fs::read(path).map_err(io(path))?;
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // ELF64 little-endian: e_phoff at 0x20, e_phentsize at 0x36, e_phnum at 0x38.
    let (Some(phoff), Some(entsize), Some(num)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return Ok(false);
    };
    const PT_INTERP: u32 = 3;
    Ok((0..usize::from(num)).any(|i| {
        let at = phoff as usize + i * usize::from(entsize);
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) == PT_INTERP)
            .unwrap_or(false)
    }))
}

/// berth-init, when present, is bind-mounted into images without a libc:
/// a dynamic build (plain `cargo build`) fails every `--init` container with
/// a bare ENOENT from execve, so say so up front.
fn check_init() -> Result<(), SupportError> {
    let init = bin_dir().join("berth-init");
    if init.is_file() && has_interpreter(&init)? {
        return Err(SupportError::MissingBinary {
            binary: init,
            hint: "only a dynamically linked build is there, and --init needs the static \
                   one: run scripts/build-init.sh with the same CARGO_TARGET_DIR"
                .into(),
        });
    }
    Ok(())
}

/// A private berthd on its own temp root, state dir and socket.
pub struct Engine {
    dir: tempfile::TempDir,
    berthd: Option<Child>,
    /// Name of the `--state` dir inside the temp dir.
    state_name: String,
    berth: PathBuf,
    berthd_bin: PathBuf,
    /// The network namespace berthd runs in (`/run/netns/NAME`), if not the host's.
    netns: Option<PathBuf>,
}

impl Engine {
    /// Starts berthd with an empty daemon.json and imports the busybox image.
    pub fn start() -> Result<Engine, SupportError> {
        let e = Engine::start_bare("{}")?;
        e.import_busybox()?;
        Ok(e)
    }

    /// Starts berthd with `daemon_json` as its config; no image.
    pub fn start_bare(daemon_json: &str) -> Result<Engine, SupportError> {
        Engine::start_with(daemon_json, "state")
    }

    /// Starts berthd with `daemon_json` as its config and `<tmp>/<state_name>`
    /// as its `--state`; no image.
    pub fn start_with(daemon_json: &str, state_name: &str) -> Result<Engine, SupportError> {
        Engine::start_full(daemon_json, state_name, None)
    }

    /// Starts berthd inside `netns` with `daemon_json` and imports busybox:
    /// what it dials (registries, mirrors) is what the test serves there.
    pub fn start_in(
        netns: &crate::netns::NetNs,
        daemon_json: &str,
    ) -> Result<Engine, SupportError> {
        let e = Engine::start_full(daemon_json, "state", Some(netns.path()))?;
        e.import_busybox()?;
        Ok(e)
    }

    fn start_full(
        daemon_json: &str,
        state_name: &str,
        netns: Option<PathBuf>,
    ) -> Result<Engine, SupportError> {
        let berthd_bin = binary("berthd")?;
        let berth = binary("berth")?;
        binary("berth-shim")?;
        binary("berth-runtime")?;
        check_init()?;
        // Short: a shim socket (<state>/shims/<64 hex>/shim.sock) must fit
        // in sun_path's 108 bytes.
        let n = ENGINES.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix(&format!("be{n}."))
            .tempdir_in("/tmp")
            .map_err(io("/tmp"))?;
        // Searchable (not listable) by others, as /var/lib is: under
        // userns-remap the containers' root is an unprivileged uid that must
        // walk down to its rootfs.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .map_err(io(dir.path()))?;
        let config = dir.path().join("daemon.json");
        std::fs::write(&config, daemon_json).map_err(io(&config))?;
        let mut e = Engine {
            dir,
            berthd: None,
            state_name: state_name.to_string(),
            berth,
            berthd_bin,
            netns,
        };
        e.spawn_berthd()?;
        Ok(e)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// berthd's `--root` (images, containers, volumes, metadata).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// berthd's `--state` (sockets, shim state).
    pub fn state(&self) -> PathBuf {
        self.dir.path().join(&self.state_name)
    }

    pub fn socket(&self) -> PathBuf {
        self.state().join("berthd.sock")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("daemon.json")
    }

    /// berthd's pid, if it runs.
    pub fn berthd_pid(&self) -> Option<u32> {
        self.berthd.as_ref().map(Child::id)
    }

    /// What berthd printed so far (for failure messages).
    pub fn berthd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// The berthd command line for this engine's dirs.
    pub fn berthd_command(&self) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => crate::netns::command_in(ns, &self.berthd_bin),
            None => Command::new(&self.berthd_bin),
        };
        cmd.arg("--root")
            .arg(self.root())
            .arg("--state")
            .arg(self.state())
            .arg("--config")
            .arg(self.config())
            .arg("--debug");
        cmd
    }

    /// (Re)starts berthd on the same dirs and waits until `berth version`
    /// answers.
    pub fn spawn_berthd(&mut self) -> Result<(), SupportError> {
        let log_path = self.dir.path().join("berthd.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let log2 = log.try_clone().map_err(io(&log_path))?;
        let mut cmd = self.berthd_command();
        // Its own process group: a ^C of the test run does not reach it
        // before Drop does.
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        let child = cmd.spawn().map_err(io(&self.berthd_bin))?;
        self.berthd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.berthd.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.berthd = None;
                    return Err(SupportError::Command {
                        command: "berthd".into(),
                        status: status.to_string(),
                        stderr: self.berthd_log(),
                    });
                }
            }
            if self.socket().exists()
                && self
                    .cli_timeout(&["version"], Duration::from_secs(5))
                    .map(|o| o.success())
                    .unwrap_or(false)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SupportError::Timeout {
                    command: format!("berthd start; log:\n{}", self.berthd_log()),
                    secs: 30,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL to berthd, as a crash would; its shims and containers live on.
    pub fn kill9_berthd(&mut self) {
        if let Some(mut c) = self.berthd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A `berth -H <socket> ARGS` command, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.berth);
        cmd.arg("-H").arg(self.socket()).args(args);
        cmd
    }

    /// Runs `berth ARGS` (stdin from /dev/null) with the default time limit.
    pub fn cli(&self, args: &[&str]) -> Result<Outcome, SupportError> {
        self.cli_timeout(args, CLI_TIMEOUT)
    }

    /// Runs `berth ARGS` with a time limit.
    pub fn cli_timeout(&self, args: &[&str], limit: Duration) -> Result<Outcome, SupportError> {
        self.run(self.command(args), limit)
    }

    /// Runs any command with its output into this engine's temp dir.
    pub fn run(&self, cmd: Command, limit: Duration) -> Result<Outcome, SupportError> {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out = self.dir.path().join(format!("cli.{n}.out"));
        let err = self.dir.path().join(format!("cli.{n}.err"));
        let o = run_with_timeout(cmd, &out, &err, limit);
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&err);
        o
    }

    /// `berth ARGS` that must succeed; returns its stdout, trimmed.
    pub fn ok(&self, args: &[&str]) -> Result<String, SupportError> {
        Ok(self.cli(args)?.check()?.stdout.trim().to_string())
    }

    /// Imports the rootfs of `scripts/make-busybox-rootfs.sh` as `busybox`.
    pub fn import_busybox(&self) -> Result<(), SupportError> {
        let tar = self.dir.path().join("busybox.tar");
        let mut cmd = Command::new(workspace().join("scripts/make-busybox-rootfs.sh"));
        cmd.arg(&tar);
        self.run(cmd, CLI_TIMEOUT)?.check()?;
        let tar_s = tar.display().to_string();
        self.ok(&["image", "import", &tar_s, "busybox"])?;
        let _ = std::fs::remove_file(&tar);
        Ok(())
    }

    /// `inspect -f TEMPLATE ID`, trimmed.
    pub fn inspect(&self, id: &str, template: &str) -> Result<String, SupportError> {
        self.ok(&["inspect", "-f", template, id])
    }

    /// The host pid of a running container's PID 1.
    pub fn pid(&self, id: &str) -> Result<i64, SupportError> {
        let s = self.inspect(id, "{{.State.Pid}}")?;
        s.parse::<i64>().map_err(|_| SupportError::Container {
            id: id.into(),
            what: format!("State.Pid is not a number: {s:?}"),
        })
    }

    /// The full ID of a container (from a name or a prefix).
    pub fn full_id(&self, name: &str) -> Result<String, SupportError> {
        self.inspect(name, "{{.Id}}")
    }

    /// IDs of the containers the root dir knows (`<root>/containers/<id>`).
    pub fn container_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.root().join("containers"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Mount points under this engine's temp dir.
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }

    /// Pids of live processes whose command line mentions this engine's temp
    /// dir (berthd, shims, runtimes), except berthd itself.
    pub fn own_processes(&self) -> Vec<i32> {
        let needle = self.dir.path().display().to_string();
        let berthd = self.berthd_pid().map(|p| p as i32);
        processes_mentioning(&needle)
            .into_iter()
            .filter(|p| Some(*p) != berthd)
            .collect()
    }
}

/// Mount points whose path starts with `prefix`, from /proc/self/mounts.
pub fn mounts_under(prefix: &Path) -> Vec<String> {
    let p = prefix.display().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|t| t.starts_with(&p))
        .map(str::to_string)
        .collect()
}

/// Live pids whose `/proc/<pid>/cmdline` contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| *p != me)
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(needle)
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn alive(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised comm, which may hold spaces.
        Ok(s) => s
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The namespace link of a process (`/proc/<pid>/ns/<kind>`), e.g. `net:[4026531992]`.
pub fn ns(pid: impl std::fmt::Display, kind: &str) -> Result<String, SupportError> {
    let p = format!("/proc/{pid}/ns/{kind}");
    std::fs::read_link(&p)
        .map(|l| l.display().to_string())
        .map_err(io(p))
}

/// Polls `cond` until it holds or `limit` passes; returns the last answer.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The v1-or-v2 cgroup of a container, as berthd names it (`/berth/<id>`).
pub fn cgroup_path(id: &str) -> String {
    format!("/berth/{id}")
}

fn kill_cgroup(cgroups_path: &str) {
    for d in crate::cgroup::existing_dirs(cgroups_path) {
        if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2) has no memory effects.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // A test may have left berthd killed: containers outlive it, so bring
        // it back to remove them the way a user would.
        if self.berthd.is_none() && self.socket().parent().is_some_and(Path::exists) {
            let _ = self.spawn_berthd();
        }
        if self.berthd.is_some() {
            if let Ok(o) = self.cli_timeout(&["ps", "-aq", "--no-trunc"], Duration::from_secs(20)) {
                let ids: Vec<&str> = o.stdout.split_whitespace().collect();
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f"];
                    args.extend(ids);
                    let _ = self.cli_timeout(&args, Duration::from_secs(60));
                }
            }
        }
        let ids = self.container_dirs();
        self.kill9_berthd();
        // Whatever berthd could not remove: processes first, then mounts.
        for id in &ids {
            kill_cgroup(&cgroup_path(id));
        }
        for p in self.own_processes() {
            // SAFETY: kill(2) has no memory effects; these are our own shims.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        for id in &ids {
            kill_cgroup(&cgroup_path(id));
        }
        std::thread::sleep(Duration::from_millis(100));
        for id in &ids {
            crate::cgroup::remove_all(&cgroup_path(id));
        }
        let mut targets = self.mounts();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            let _ = nix::mount::umount2(t.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // TempDir's own drop removes the dir.
    }
}
