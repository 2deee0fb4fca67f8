//! The child reaper. As subreaper the shim inherits every orphan of the
//! container, so it reaps all children (`waitpid(-1)`) on SIGCHLD and hands
//! each status to whoever waits for that pid. Runtime invocations go through
//! here too: nothing else may call `wait` on a child, or this loop would steal
//! (or be robbed of) its status.
//!
//! An exit that arrives before anyone waits for it is kept, so registering
//! after spawning is race-free.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

/// Unclaimed exits kept at most (orphans nobody waits for).
const MAX_UNCLAIMED: usize = 1024;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// docker's convention: the code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }

    pub fn signal(self) -> i32 {
        match self {
            Exit::Code(_) => 0,
            Exit::Signal(s) => s,
        }
    }
}

#[derive(Default)]
struct State {
    waiters: HashMap<i32, Vec<oneshot::Sender<Exit>>>,
    unclaimed: HashMap<i32, Exit>,
    order: VecDeque<i32>,
}

/// Handle on the reaper loop; clone freely.
#[derive(Clone)]
pub struct Reaper {
    state: Arc<Mutex<State>>,
}

impl Reaper {
    /// Starts the SIGCHLD loop on the current runtime.
    pub fn start() -> std::io::Result<Reaper> {
        let reaper = Reaper {
            state: Arc::default(),
        };
        let mut sig = signal(SignalKind::child())?;
        let r = reaper.clone();
        tokio::spawn(async move {
            loop {
                r.reap_all();
                if sig.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(reaper)
    }

    /// Resolves with `pid`'s exit (at once if it has already been reaped).
    pub fn wait(&self, pid: i32) -> oneshot::Receiver<Exit> {
        let (tx, rx) = oneshot::channel();
        let mut st = lock(&self.state);
        if let Some(e) = st.unclaimed.remove(&pid) {
            let _ = tx.send(e);
        } else {
            st.waiters.entry(pid).or_default().push(tx);
        }
        rx
    }

    /// Collects every exited child. Also called after a spawn fails to be
    /// waited on, and at start, in case SIGCHLD came before the handler.
    pub fn reap_all(&self) {
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), Exit::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) => return,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return, // ECHILD: no children left
            };
            self.deliver(pid, exit);
        }
    }

    fn deliver(&self, pid: i32, exit: Exit) {
        let mut st = lock(&self.state);
        match st.waiters.remove(&pid) {
            Some(waiters) => {
                for w in waiters {
                    let _ = w.send(exit);
                }
            }
            None => {
                if st.unclaimed.insert(pid, exit).is_none() {
                    st.order.push_back(pid);
                }
                while st.order.len() > MAX_UNCLAIMED {
                    if let Some(old) = st.order.pop_front() {
                        st.unclaimed.remove(&old);
                    }
                }
            }
        }
    }
}

/// The state is plain data, valid even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn exit_before_wait_is_kept() {
        let r = Reaper {
            state: Arc::default(),
        };
        r.deliver(4242, Exit::Code(3));
        assert_eq!(r.wait(4242).await.ok(), Some(Exit::Code(3)));
        let rx = r.wait(4243);
        r.deliver(4243, Exit::Signal(9));
        let e = rx.await.ok();
        assert_eq!(e, Some(Exit::Signal(9)));
        assert_eq!(e.map(Exit::code), Some(137));
    }
}
