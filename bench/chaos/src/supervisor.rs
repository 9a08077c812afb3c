//! The system under test: the real `corral` binary running the real `app`
//! (two workers on one SQLite file) in a temp dir, on a fixed port so that
//! a supervisor started again binds the same one. Driven as an operator
//! would: `corral status --json` and `corral reload api`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

/// The ecosystem file of every scenario: the health check probes
/// `{probe}`, tightly (a stopped worker is found out within about 2.5 s),
/// and `{env}` holds the lines of `[apps.env]` that differ. With the short
/// `min_uptime`, a worker killed a second after it came online is a stable
/// restart rather than a step towards `errored`.
const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{app}"
instances = 2
listen = ["127.0.0.1:{port}"]
wait_ready = true
listen_timeout = "20s"
kill_timeout = "15s"
min_uptime = "300ms"
health_check = { path = "{probe}", interval = "1s", timeout = "500ms", grace_period = "2s", failures = 2 }
[apps.env]
APP_LOG_FORMAT = "json"
{env}
"#;

/// Where the binaries are.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The `corral` binary.
    pub corral: PathBuf,
    /// The `app` binary, canonical: the clean-up kills a pid only while its
    /// `/proc/PID/exe` is this path, so it never kills a reused pid.
    pub app: PathBuf,
}

/// A running supervisor, killed with its workers when dropped.
pub struct Supervisor {
    bins: Binaries,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The shared port.
    pub addr: SocketAddr,
    /// Every worker pid seen in a status, for the clean-up.
    seen: BTreeSet<i32>,
}

impl Supervisor {
    /// Starts `corral run` in a new temp dir on a free port (picked by
    /// binding port 0 and closing it, so a restart can bind it again) and
    /// waits until both workers are online.
    pub fn start(bins: &Binaries) -> anyhow::Result<Self> {
        Self::start_with(bins, "/health", r#"DATABASE_URL = "sqlite://data/app.db""#)
    }

    /// Like [`Supervisor::start`], probing another path, with other
    /// `[apps.env]` lines.
    pub fn start_with(bins: &Binaries, probe: &str, env: &str) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir().context("a temp dir for the supervisor")?;
        let config = CONFIG
            .replace("{app}", &bins.app.display().to_string())
            .replace("{port}", &port.to_string())
            .replace("{probe}", probe)
            .replace("{env}", env);
        std::fs::write(dir.path().join("ecosystem.toml"), config)?;
        let mut supervisor = Self {
            bins: bins.clone(),
            dir,
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            seen: BTreeSet::new(),
        };
        supervisor.spawn()?;
        Ok(supervisor)
    }

    /// Runs `corral run` (again) in the same folder, on the same port, and
    /// waits until both workers are online.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("corral.log"))?;
        let child = Command::new(&self.bins.corral)
            .args(["run", "ecosystem.toml"])
            .current_dir(self.dir.path())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bins.corral.display()))?;
        self.child = Some(child);
        self.wait_online(Duration::from_secs(30))
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// The folder of the ecosystem file, the logs and the database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `corral status --json`.
    pub fn status(&mut self) -> anyhow::Result<Value> {
        let out = self.cli(&["status", "--json"])?;
        let status: Value = serde_json::from_slice(&out.stdout).context("status --json")?;
        self.seen.extend(pids(workers(&status)));
        Ok(status)
    }

    /// The pids of the workers that are online.
    pub fn online_workers(&mut self) -> anyhow::Result<Vec<i32>> {
        let status = self.status()?;
        Ok(pids(workers(&status).filter(|w| w["state"] == "online")))
    }

    /// Waits until worker `pid` is out of the status and the app is back
    /// to two online workers; how long that took, or `None` past `within`.
    pub fn wait_replaced(
        &mut self,
        pid: i32,
        within: Duration,
    ) -> anyhow::Result<Option<Duration>> {
        let began = Instant::now();
        loop {
            let status = self.status()?;
            let gone = workers(&status).all(|w| w["pid"] != pid);
            let online = workers(&status).filter(|w| w["state"] == "online").count();
            if gone && online == 2 {
                return Ok(Some(began.elapsed()));
            }
            if began.elapsed() > within {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the app has both its workers online and no other.
    pub fn wait_online(&mut self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(exit) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("corral exited ({exit}); see {}", self.log_path().display());
            }
            if let Ok(status) = self.status()
                && workers(&status).count() == 2
                && workers(&status).all(|w| w["state"] == "online")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the app was not back to 2 online workers within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `corral reload api`: returns once the rollout is complete.
    pub fn reload(&mut self) -> anyhow::Result<()> {
        let out = self.cli(&["reload", "api"])?;
        if !out.status.success() {
            bail!(
                "corral reload api failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Kills the supervisor with `SIGKILL` and reaps it.
    pub fn kill_hard(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("no supervisor running")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// The supervisor's own log.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("corral.log")
    }

    fn cli(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new(&self.bins.corral)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running corral {}", args.join(" ")))
    }
}

impl Drop for Supervisor {
    /// Leaves no process behind: the supervisor, then the process group of
    /// every worker it was seen running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for &pid in &self.seen {
            // Only a process that still runs the app: a pid the kernel has
            // given to another program since is not ours to kill.
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"));
            if exe.is_ok_and(|exe| exe == self.bins.app) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// The workers in a `status --json` document.
pub fn workers(status: &Value) -> impl Iterator<Item = &Value> {
    status["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|app| app["workers"].as_array().into_iter().flatten())
}

/// The pids of `workers` (entries of a status document).
pub fn pids<'a>(workers: impl Iterator<Item = &'a Value>) -> Vec<i32> {
    workers
        .filter_map(|w| w["pid"].as_i64())
        .map(|pid| pid as i32)
        .collect()
}
