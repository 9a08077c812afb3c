//! One recipe run: start two workers, check that both serve, reload under
//! load, stop with a request in flight, and account for every process.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::helper::runtimes::workers_dir;
use crate::helper::{Corral, Load, LoadReport, descendants, get, get_json, wait_gone};

/// What differs between the servers.
pub struct Recipe {
    /// The ecosystem file, as docs/workers.md shows it.
    pub config: &'static str,
    /// The worker program in tests/workers, copied beside the ecosystem file
    /// (the workers' `cwd`).
    pub file: &'static str,
    /// Put first in corral's `PATH`, so that `command` finds the server.
    pub path: Option<PathBuf>,
    /// Processes each worker forks (gunicorn's own workers).
    pub forks: usize,
    /// Whether the server answers on its private `health` socket.
    pub serves_health: bool,
    /// Reloads under load with a new connection per request...
    pub reloads: usize,
    /// ...then with keep-alive connections.
    pub keep_alive_reloads: usize,
}

/// What a recipe run saw.
pub struct Run {
    /// Requests on new connections during the first reloads.
    pub fresh: LoadReport,
    /// Requests on keep-alive connections during the last reloads.
    pub kept: LoadReport,
    /// `worker stopped` events of the workers the final SIGTERM stopped.
    pub stopped: Vec<Value>,
}

impl Run {
    /// Zero failures on new and keep-alive connections alike.
    pub fn assert_no_failed_request(&self) {
        for (load, what) in [(&self.fresh, "new"), (&self.kept, "keep-alive")] {
            assert!(
                load.failures.is_empty(),
                "failed requests on {what} connections during reloads: {}",
                load.summary()
            );
            assert!(load.ok > 0, "no request on {what} connections succeeded");
        }
    }

    /// How the last workers ended after the final SIGTERM, as corral logs it.
    pub fn assert_stopped_with(&self, status: &str) {
        assert!(
            self.stopped.iter().all(|e| e["status"] == status),
            "every worker should have stopped with {status}: {:?}",
            self.stopped
        );
    }
}

/// The state of a run between its steps.
struct Fleet {
    corral: Corral,
    addr: SocketAddr,
    /// The current workers.
    workers: Vec<i32>,
    /// Every worker and fork seen so far: none may outlive the stop.
    every_pid: Vec<i32>,
}

/// Runs `recipe` from start to stop; panics on anything a recipe promises.
pub fn run(recipe: &Recipe) -> Run {
    let mut corral = Corral::start_with(recipe.config, |cmd| {
        let dir = cmd.get_current_dir().expect("corral runs in its temp dir");
        std::fs::copy(workers_dir().join(recipe.file), dir.join(recipe.file))
            .expect("copy the worker program");
        if let Some(bin) = &recipe.path {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::iter::once(bin.clone()).chain(std::env::split_paths(&path));
            cmd.env("PATH", std::env::join_paths(dirs).expect("PATH"));
        }
    });
    let workers = corral.wait_online();
    assert_eq!(workers.len(), 2, "two workers: {workers:?}");
    let addr = corral.listen_addr();
    let mut fleet = Fleet {
        corral,
        addr,
        workers,
        every_pid: Vec::new(),
    };
    fleet.check_serving(recipe);
    let fresh = fleet.reload_under(recipe, recipe.reloads, || Load::start(addr, 4));
    let kept = fleet.reload_under(recipe, recipe.keep_alive_reloads, || {
        Load::start_keep_alive(addr, 4)
    });
    let stopped = fleet.stop();
    Run {
        fresh,
        kept,
        stopped,
    }
}

impl Fleet {
    /// Reloads `times` under the load `start` makes; after each reload both
    /// slots run new workers, the old ones are gone, and the new ones serve.
    fn reload_under(
        &mut self,
        recipe: &Recipe,
        times: usize,
        start: impl Fn() -> Load,
    ) -> LoadReport {
        let mut total = LoadReport::default();
        for _ in 0..times {
            let load = start();
            self.corral.signal(Signal::SIGHUP);
            self.corral.wait_message("reload complete");
            let report = load.stop();
            total.ok += report.ok;
            total.failures.extend(report.failures);
            let left = wait_gone(&self.workers, Duration::from_secs(2));
            assert!(left.is_empty(), "old workers still running: {left:?}");
            let online = self.corral.events("worker online");
            let pids = online
                .iter()
                .map(|e| e["pid"].as_i64().expect("pid") as i32);
            self.workers = pids.filter(|pid| !self.every_pid.contains(pid)).collect();
            assert_eq!(
                self.workers.len(),
                2,
                "both slots replaced: {:?}",
                self.workers
            );
            self.check_serving(recipe);
        }
        total
    }

    /// Checks that each worker forked what it should, that the shared port
    /// is answered from each worker's tree, and (where served) that each
    /// private health socket answers; records every pid of the trees.
    fn check_serving(&mut self, recipe: &Recipe) {
        let trees: Vec<(i32, Vec<i32>)> = self
            .workers
            .iter()
            .map(|&worker| (worker, wait_forks(worker, recipe.forks)))
            .collect();
        let owner = |pid: i32| {
            trees
                .iter()
                .find(|(worker, forks)| *worker == pid || forks.contains(&pid))
                .map(|(worker, _)| *worker)
        };
        let mut answered = BTreeSet::new();
        for _ in 0..5000 {
            let pid = get_json(self.addr, "/")["pid"].as_i64().expect("pid") as i32;
            let worker = owner(pid).unwrap_or_else(|| panic!("pid {pid} is in no worker's tree"));
            answered.insert(worker);
            if answered.len() == trees.len() {
                break;
            }
        }
        assert_eq!(answered.len(), trees.len(), "only {answered:?} served");
        if recipe.serves_health {
            for &worker in &self.workers {
                let (status, body) = get(self.health_addr(worker), "/health").expect("health");
                assert_eq!(status, 200, "health socket of {worker}: {body}");
            }
        }
        for (worker, forks) in trees {
            self.every_pid.push(worker);
            self.every_pid.extend(forks);
        }
    }

    /// SIGTERM with a request in flight: it is answered, corral exits 0, and
    /// no process of any tree is left. Returns the last workers' `worker
    /// stopped` events.
    fn stop(mut self) -> Vec<Value> {
        let addr = self.addr;
        let slow = std::thread::spawn(move || get(addr, "/slow?ms=1000"));
        self.corral
            .wait_log("web-out.log", "slow request started", 1);
        self.corral.signal(Signal::SIGTERM);
        let (status, body) = slow.join().expect("client").expect("in-flight request");
        assert_eq!(status, 200, "the in-flight request is answered: {body}");
        let exit = self.corral.wait_exit(Duration::from_secs(10));
        assert!(exit.success(), "corral exited with {exit}");
        let left = wait_gone(&self.every_pid, Duration::from_secs(2));
        assert!(
            left.is_empty(),
            "left behind: {left:?} of {:?}",
            self.every_pid
        );
        let stopped: Vec<Value> = self
            .corral
            .events("worker stopped")
            .into_iter()
            .filter(|e| {
                self.workers
                    .contains(&(e["pid"].as_i64().unwrap_or(0) as i32))
            })
            .collect();
        assert_eq!(stopped.len(), 2, "both workers stopped: {stopped:?}");
        stopped
    }

    /// The private health socket corral made for `worker`.
    fn health_addr(&self, worker: i32) -> SocketAddr {
        let spawned = self.corral.events("worker spawned");
        let event = spawned
            .iter()
            .find(|e| e["pid"] == worker)
            .expect("worker spawned event");
        event["health_addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("health_addr")
    }
}

/// Waits until `worker` has forked `n` processes; returns them.
fn wait_forks(worker: i32, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let forks = descendants(worker);
        if forks.len() >= n || Instant::now() >= deadline {
            assert_eq!(forks.len(), n, "processes forked by {worker}: {forks:?}");
            return forks;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
