//! Containment: no process of any worker's tree outlives the supervisor,
//! whatever the worker forks and however the supervisor dies.
//!
//! Two mechanisms, the second in every environment:
//!
//! - **A cgroup per worker**, when corral can have one ([`layout`]):
//!   the exec step joins it before the worker's command runs, so all the
//!   worker forks is inside, even a process that calls `setsid`.
//!   `cgroup.kill` kills the whole tree at once; `cgroup.procs` lists it.
//! - **A guard process** ([`guard`]) that outlives the supervisor by design:
//!   it holds the read end of a pipe whose write end only the supervisor
//!   has, and when that pipe closes (the supervisor died, even by SIGKILL)
//!   it kills every worker's cgroup and process group and removes corral's
//!   cgroups. Without cgroups, a process that leaves its worker's process
//!   group escapes it.
//!
//! The order that keeps pids safe: a worker is protected ([`Containment::adopt`])
//! right after its spawn, while it cannot have been reaped; when it exits,
//! the reaper kills what is left of its tree ([`Containment::kill_tree`])
//! and has the guard forget it ([`Containment::release`]) while the worker
//! is still an unreaped zombie, so its pid (and group id) cannot yet belong
//! to anyone else.

pub mod cgroup;
pub mod guard;
pub mod layout;
mod link;
pub mod protocol;
pub mod setup;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use nix::unistd::Pid;
use tokio_util::task::TaskTracker;

use crate::unix;
use layout::Setting;
use link::Link;
use protocol::Message;
use setup::Layout;

/// How long a killed worker's cgroup may take to empty before its removal
/// is given up (it is retried when the supervisor stops).
const EMPTY_BOUND: Duration = Duration::from_secs(5);

/// How long a normal stop waits for cgroup removals and for the guard.
const CLOSE_BOUND: Duration = Duration::from_secs(5);

/// The supervisor's handle on containment; cheap to clone, usable from the
/// reaper (synchronous) and from async tasks.
#[derive(Clone)]
pub struct Containment {
    shared: Arc<Shared>,
}

struct Shared {
    /// The workers' cgroups, or why there are none.
    layout: Result<Layout, String>,
    link: Arc<Mutex<Link>>,
    /// Numbers worker cgroups, so a name is never used twice.
    next_cgroup: AtomicU64,
    /// Removals of cgroups still emptying.
    removals: TaskTracker,
}

/// Where a worker about to be spawned will live: its cgroup, if any. A
/// placement that is never adopted (the spawn failed) removes its cgroup.
#[derive(Debug)]
pub struct Placement {
    cgroup: Option<PathBuf>,
}

impl Placement {
    /// The cgroup the exec step must join, if any.
    pub fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_deref()
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if let Some(dir) = self.cgroup.take() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Containment {
    /// Sets up cgroups if the environment allows (see [`layout`]) and
    /// starts the guard. Call it inside the runtime, before the first worker.
    pub fn start() -> anyhow::Result<Self> {
        let setting = Setting::from_env().map_err(anyhow::Error::msg)?;
        let plan = layout::plan(setting, &setup::discover(), std::process::id());
        let layout = setup::apply(plan);
        let mut link = match Link::start() {
            Ok(link) => link,
            Err(err) => {
                if let Ok(layout) = &layout {
                    let _ = cgroup::remove_tree(&layout.base, EMPTY_BOUND);
                }
                return Err(err).context("cannot start the guard process (`corral guard`)");
            }
        };
        if let Ok(layout) = &layout {
            link.send(Message::Cleanup {
                dir: layout.base.clone(),
            });
        }
        let link = Arc::new(Mutex::new(link));
        tokio::spawn(link::watch(Arc::clone(&link)));
        Ok(Self {
            shared: Arc::new(Shared {
                layout,
                link,
                next_cgroup: AtomicU64::new(0),
                removals: TaskTracker::new(),
            }),
        })
    }

    /// What this environment gets, in one sentence for the start-up log.
    pub fn describe(&self) -> String {
        match &self.shared.layout {
            Ok(layout) => format!(
                "a cgroup per worker under {} ({}), and a guard process that kills every \
                 worker's cgroup if the supervisor dies",
                layout.base.display(),
                layout.origin
            ),
            Err(why) => format!(
                "no cgroups ({why}): a guard process kills each worker's process group if the \
                 supervisor dies; a process that leaves its worker's process group escapes"
            ),
        }
    }

    /// The directory holding the workers' cgroups, when cgroups are used.
    pub fn cgroup_base(&self) -> Option<&Path> {
        self.shared.layout.as_ref().ok().map(|l| l.base.as_path())
    }

    /// The guard's pid, while one runs.
    pub fn guard_pid(&self) -> Option<i32> {
        self.link().guard_pid()
    }

    /// Before a spawn: creates the worker's cgroup, if cgroups are used.
    /// `label` names it for operators (`worker-<n>-<label>`).
    pub fn prepare(&self, label: &str) -> io::Result<Placement> {
        let Ok(layout) = &self.shared.layout else {
            return Ok(Placement { cgroup: None });
        };
        let n = self.shared.next_cgroup.fetch_add(1, Ordering::Relaxed);
        let label: String = label
            .chars()
            .map(|c| if c == '/' { '_' } else { c })
            .collect();
        let dir = layout.base.join(format!("worker-{n}-{label}"));
        cgroup::create(&dir).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!(
                    "cannot create the worker's cgroup {}: {err} (CORRAL_CGROUPS=off runs \
                     workers without cgroups)",
                    dir.display()
                ),
            )
        })?;
        Ok(Placement { cgroup: Some(dir) })
    }

    /// Right after the spawn of `pid`, in the same synchronous section (the
    /// worker cannot have been reaped yet): the guard protects its tree.
    pub fn adopt(&self, pid: Pid, mut placement: Placement) {
        let start = procfs::process::Process::new(pid.as_raw())
            .and_then(|p| p.stat())
            .map(|stat| stat.starttime)
            .ok();
        self.link().send(Message::Protect {
            pgid: pid.as_raw(),
            start,
            cgroup: placement.cgroup.take(),
        });
    }

    /// SIGKILLs the worker's whole tree: its cgroup, and its process group.
    /// Only while `pid` is not yet reaped.
    pub fn kill_tree(&self, pid: Pid) {
        let dir = self.cgroup_of(pid);
        if let Some(dir) = dir
            && let Err(err) = cgroup::kill(&dir)
        {
            tracing::warn!(cgroup = %dir.display(), %err, "cannot kill a worker's cgroup");
        }
        unix::kill_group(pid);
    }

    /// Before the worker's zombie is reaped: the guard forgets it, and its
    /// cgroup is removed once empty.
    pub fn release(&self, pid: Pid) {
        let dir = {
            let mut link = self.link();
            let dir = link.ledger().cgroup_of(pid.as_raw()).map(Path::to_path_buf);
            link.send(Message::Forget { pgid: pid.as_raw() });
            dir
        };
        let Some(dir) = dir else { return };
        if std::fs::remove_dir(&dir).is_err() {
            // Still emptying: the tree was SIGKILLed a moment ago.
            self.shared.removals.spawn_blocking(move || {
                if let Err(err) = cgroup::remove_tree(&dir, EMPTY_BOUND) {
                    tracing::warn!(cgroup = %dir.display(), %err, "cannot remove a worker's cgroup yet");
                }
            });
        }
    }

    /// The pids in the worker's cgroup (its whole tree), when it has one.
    pub fn members(&self, pid: Pid) -> Option<Vec<Pid>> {
        let dir = self.cgroup_of(pid)?;
        let pids = cgroup::procs(&dir).ok()?;
        Some(pids.into_iter().map(Pid::from_raw).collect())
    }

    /// At a normal stop, after every worker is gone: removes corral's
    /// cgroups and lets the guard exit, waiting (bounded) for both.
    pub async fn close(&self) {
        let removals = &self.shared.removals;
        removals.close();
        let _ = tokio::time::timeout(CLOSE_BOUND, removals.wait()).await;
        if let Some(base) = self.cgroup_base().map(Path::to_path_buf) {
            let removed =
                tokio::task::spawn_blocking(move || cgroup::remove_tree(&base, EMPTY_BOUND)).await;
            if let Ok(Err(err)) = removed {
                tracing::warn!(%err, "cannot remove corral's cgroups; the guard will retry");
            }
        }
        let exited = self.link().close();
        if let Some(exited) = exited
            && tokio::time::timeout(CLOSE_BOUND, exited.readable())
                .await
                .is_err()
        {
            tracing::warn!("the guard process did not exit");
        }
    }

    fn cgroup_of(&self, pid: Pid) -> Option<PathBuf> {
        let link = self.link();
        link.ledger().cgroup_of(pid.as_raw()).map(Path::to_path_buf)
    }

    fn link(&self) -> MutexGuard<'_, Link> {
        self.shared.link.lock().expect("guard link poisoned")
    }
}
