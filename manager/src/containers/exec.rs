//! `exec`: extra processes in a running container. The process spec starts
//! from the container's own (`config.json`'s `process`: capabilities, rlimits)
//! with the exec's args, env, cwd, user and tty. Exec records live in memory:
//! like docker's, they do not outlive the daemon.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::attach::AttachHandle;
use super::bundle;
use super::ExecHandle;
use super::{Containers, Error, Result};
use crate::tasks::{AttachOptions, ExecSpec};

/// `exec` options.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub privileged: bool,
}

/// `exec inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: u32,
    pub args: Vec<String>,
    pub tty: bool,
}

#[derive(Debug, Default)]
struct ExecState {
    pid: u32,
    running: bool,
    started: bool,
    exit_code: Option<i32>,
}

pub(super) struct ExecEntry {
    pub container_id: String,
    opts: ExecOptions,
    state: Arc<Mutex<ExecState>>,
    process: Option<Arc<dyn ExecHandle>>,
}

/// A started exec: its streams (unless detached) and its exit code.
pub struct StartedExec {
    pub attach: Option<AttachHandle>,
    pub exit: oneshot::Receiver<i32>,
}

/// Every capability, for `exec --privileged` (the `caps` crate's table, the one
/// berth-runtime checks names against).
fn all_caps() -> Vec<String> {
    caps::all().iter().map(|c| c.to_string()).collect()
}

impl Containers {
    /// Registers an exec in a running container; returns its ID.
    pub fn exec_create(&self, reference: &str, opts: ExecOptions) -> Result<String> {
        let c = self.lookup(reference)?;
        if self.live_task(&c.id).is_none() {
            return Err(Error::NotRunning { name: c.name });
        }
        if c.state.status == super::Status::Paused {
            return Err(Error::Paused { name: c.name });
        }
        if opts.args.is_empty() {
            return Err(Error::InvalidArgument {
                message: "No exec command specified".to_string(),
            });
        }
        let id = super::names::new_id();
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.clone(),
                ExecEntry {
                    container_id: c.id,
                    opts,
                    state: Arc::default(),
                    process: None,
                },
            );
        Ok(id)
    }

    fn exec_process(
        &self,
        container_id: &str,
        opts: &ExecOptions,
    ) -> Result<oci_spec::runtime::Process> {
        let c = self.lookup(container_id)?;
        let cfg_path = c.dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(super::io_err(&c.id, &cfg_path))?;
        let cfg: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::InvalidArgument {
                message: format!("{}: {e}", cfg_path.display()),
            })?;
        let mut p = cfg.get("process").cloned().unwrap_or_default();
        let user = if opts.user.is_empty() {
            &c.user
        } else {
            &opts.user
        };
        let u = bundle::resolve_user(&c.rootfs(), user).map_err(|source| Error::Bundle {
            id: c.id.clone(),
            source,
        })?;
        let mut env = c.env.clone();
        env.extend(opts.env.iter().cloned());
        p["args"] = serde_json::json!(opts.args);
        p["env"] = serde_json::json!(env);
        p["terminal"] = serde_json::json!(opts.tty);
        p["user"] =
            serde_json::json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        if !opts.working_dir.is_empty() {
            p["cwd"] = serde_json::json!(opts.working_dir);
        }
        if opts.privileged {
            let all = all_caps();
            p["capabilities"] = serde_json::json!({
                "bounding": all, "effective": all, "permitted": all,
            });
        }
        serde_json::from_value(p).map_err(|e| Error::InvalidArgument {
            message: format!("exec process spec: {e}"),
        })
    }

    /// Starts an exec. Unless `detach`, its stdio is attached before it runs.
    pub async fn exec_start(&self, exec_id: &str, detach: bool) -> Result<StartedExec> {
        let not_found = || Error::NoSuchExec {
            id: exec_id.to_string(),
        };
        let (container_id, opts, state) = {
            let m = self.inner.execs.lock().unwrap_or_else(|e| e.into_inner());
            let e = m.get(exec_id).ok_or_else(not_found)?;
            (e.container_id.clone(), e.opts.clone(), e.state.clone())
        };
        // Messages name the container as the user knows it.
        let name = self
            .lookup(&container_id)
            .map_or_else(|_| container_id.clone(), |c| c.name);
        {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            if s.started {
                return Err(Error::InvalidArgument {
                    message: format!("exec {exec_id} has already been started"),
                });
            }
            s.started = true;
        }
        let live = self
            .live_task(&container_id)
            .ok_or_else(|| Error::NotRunning { name: name.clone() })?;
        let this = self.clone();
        let cid = container_id.clone();
        let o2 = opts.clone();
        let process = tokio::task::spawn_blocking(move || this.exec_process(&cid, &o2))
            .await
            .map_err(super::interrupted("executing a process in", &name))??;
        let p = live
            .task
            .exec(ExecSpec {
                exec_id: exec_id.to_string(),
                process,
                stdin: opts.attach_stdin,
                tty: opts.tty,
            })
            .await
            .map_err(super::task_err(&name))?;
        let attach = if detach {
            None
        } else {
            let a = p
                .attach(AttachOptions {
                    stdin: opts.attach_stdin,
                    stdout: true,
                    stderr: true,
                })
                .await
                .map_err(super::task_err(&name))?;
            Some(AttachHandle::new(self, &container_id, a, opts.tty))
        };
        let pid = p.start().await.map_err(super::task_err(&name))?;
        {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.pid = pid;
            s.running = true;
        }
        if let Some(e) = self
            .inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(exec_id)
        {
            e.process = Some(p.clone());
        }
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let code = match p.wait().await {
                Ok(s) => s.code,
                Err(_) => 255,
            };
            {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                s.running = false;
                s.exit_code = Some(code);
            }
            let _ = p.delete(false).await;
            let _ = tx.send(code);
        });
        Ok(StartedExec { attach, exit: rx })
    }

    /// The process of a started exec.
    fn started_exec(&self, exec_id: &str) -> Result<Arc<dyn ExecHandle>> {
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(exec_id)
            .and_then(|e| e.process.clone())
            .ok_or_else(|| Error::NoSuchExec {
                id: exec_id.to_string(),
            })
    }

    pub async fn exec_resize(&self, exec_id: &str, width: u32, height: u32) -> Result<()> {
        let p = self.started_exec(exec_id)?;
        p.resize(width, height)
            .await
            .map_err(super::task_err(exec_id))?;
        Ok(())
    }

    /// Kills a started exec (a health probe past its timeout) and its
    /// process group, and waits until the shim has seen it go.
    pub(super) async fn exec_kill(&self, exec_id: &str) -> Result<()> {
        let p = self.started_exec(exec_id)?;
        p.delete(true).await.map_err(super::task_err(exec_id))?;
        Ok(())
    }

    /// Drops the record of an exec nobody will inspect (a health probe's,
    /// once its result is in): probes would otherwise pile up here.
    pub(super) fn exec_forget(&self, exec_id: &str) {
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(exec_id);
    }

    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInfo> {
        let m = self.inner.execs.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.get(exec_id).ok_or_else(|| Error::NoSuchExec {
            id: exec_id.to_string(),
        })?;
        let s = e.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(ExecInfo {
            id: exec_id.to_string(),
            container_id: e.container_id.clone(),
            running: s.running,
            exit_code: s.exit_code,
            pid: s.pid,
            args: e.opts.args.clone(),
            tty: e.opts.tty,
        })
    }
}
