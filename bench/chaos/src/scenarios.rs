//! The chaos scenarios of issue 10, each run against its own supervisor
//! under load, each returning what it measured and the verdicts it drew:
//! the `chaos` binary runs them at full length, the e2e tests in short.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::seq::IndexedRandom as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::attribution::{Kill, attribute};
use crate::client::{Load, Plan, Report};
use crate::fds::{compare_fds, only_sockets, shared_with};
use crate::procs;
use crate::supervisor::{Binaries, Supervisor, workers};

/// How long each scenario runs and how hard it pushes.
#[derive(Clone, Debug)]
pub struct Lengths {
    /// How many rolling reloads, spread evenly over `reload_window`.
    pub reloads: u32,
    /// The time the reloads are spread over.
    pub reload_window: Duration,
    /// How long a worker is killed every second.
    pub kill_for: Duration,
    /// How many reloads before the leak check.
    pub leak_reloads: u32,
    /// Requests per second of each of the two loads (new connections, and
    /// keep-alive).
    pub rate: u32,
}

impl Lengths {
    /// The lengths: 30 reloads in 60 s, a kill a second for 60 s,
    /// 100 reloads.
    pub fn full() -> Self {
        Self {
            reloads: 30,
            reload_window: Duration::from_secs(60),
            kill_for: Duration::from_secs(60),
            leak_reloads: 100,
            rate: 200,
        }
    }

    /// Short enough for CI: 6 reloads in 10 s, a kill a second for 6 s, 20
    /// reloads.
    pub fn short() -> Self {
        Self {
            reloads: 6,
            reload_window: Duration::from_secs(10),
            kill_for: Duration::from_secs(6),
            leak_reloads: 20,
            rate: 100,
        }
    }
}

/// What one scenario measured, and whether each property held.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Each property checked, with whether it held.
    pub verdicts: BTreeMap<&'static str, bool>,
    /// The figures behind them.
    pub figures: Value,
}

impl Outcome {
    /// Whether every property held.
    pub fn passed(&self) -> bool {
        self.verdicts.values().all(|held| *held)
    }

    /// The properties that did not hold, with the figures, for a failure
    /// message.
    pub fn explain(&self) -> String {
        let failed: Vec<_> = self.verdicts.iter().filter(|(_, held)| !**held).collect();
        format!(
            "{}: failed {failed:?}; figures {:#}",
            self.scenario, self.figures
        )
    }
}

/// The two loads every scenario runs: one opening a new connection per
/// request, one on keep-alive connections.
struct Loads {
    fresh: Load,
    kept: Load,
}

impl Loads {
    fn start(sup: &Supervisor, rate: u32) -> Self {
        let plan = |keep_alive, clients| Plan {
            addr: sup.addr,
            path: "/api/tags".to_owned(),
            clients,
            rate,
            keep_alive,
            timeout: Duration::from_secs(10),
        };
        Self {
            fresh: Load::start(plan(false, 8)),
            kept: Load::start(plan(true, 16)),
        }
    }

    fn stop(self) -> (Report, Report) {
        (self.fresh.stop(), self.kept.stop())
    }
}

fn sleep_until(when: Instant) {
    std::thread::sleep(when.saturating_duration_since(Instant::now()));
}

/// Rolling reloads at a steady rate under both loads: no request may fail
/// without keep-alive, and none on a new connection with it.
pub fn rolling_reloads(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Outcome> {
    let mut sup = Supervisor::start(bins)?;
    let loads = Loads::start(&sup, lengths.rate);
    let start = Instant::now();
    let step = lengths.reload_window / lengths.reloads;
    let mut late = Duration::ZERO;
    for n in 0..lengths.reloads {
        sleep_until(start + step * n);
        late = late.max(Instant::now() - (start + step * n));
        sup.reload()?;
    }
    sleep_until(start + lengths.reload_window);
    let (fresh, kept) = loads.stop();
    Ok(Outcome {
        scenario: "rolling_reloads",
        verdicts: BTreeMap::from([
            ("no failure without keep-alive", fresh.counts.failed() == 0),
            (
                "no failure on a new connection with keep-alive",
                kept.counts.failed_on_new_connections() == 0,
            ),
            ("load was served", fresh.counts.ok > 0 && kept.counts.ok > 0),
        ]),
        figures: json!({
            "reloads": lengths.reloads,
            "seconds": start.elapsed().as_secs_f64(),
            "latest_reload_start_s": late.as_secs_f64(),
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}

/// A random online worker killed with `SIGKILL` every second: only the
/// requests on its connections may fail, every killed worker is reaped, and
/// the app is back to its count.
pub fn kill_workers(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Outcome> {
    let mut sup = Supervisor::start(bins)?;
    let loads = Loads::start(&sup, lengths.rate);
    let start = Instant::now();
    let (mut kills, mut killed) = (Vec::new(), Vec::new());
    let mut second = 1;
    while start + Duration::from_secs(second) <= start + lengths.kill_for {
        sleep_until(start + Duration::from_secs(second));
        second += 1;
        let online = sup.online_workers()?;
        let Some(&pid) = online.choose(&mut rand::rng()) else {
            continue;
        };
        let (peers, at) = procs::kill_and_list_peers(pid, sup.addr.port())?;
        kills.push(Kill { at, peers });
        killed.push(pid);
    }
    // Requests sent before the last kill finish; a second more of load
    // shows the app serving again.
    std::thread::sleep(Duration::from_secs(1));
    let (fresh, kept) = loads.stop();
    let restored = sup.wait_online(Duration::from_secs(30)).is_ok();
    let left = procs::survivors(&killed, Duration::from_secs(5));
    let zombies = procs::zombies_under(sup.pid());
    let on_fresh = attribute(&kills, &fresh.failures);
    let on_kept = attribute(&kills, &kept.failures);
    Ok(Outcome {
        scenario: "kill_workers",
        verdicts: BTreeMap::from([
            (
                "every failure was on a killed worker's connection",
                on_fresh.unexplained == 0 && on_kept.unexplained == 0,
            ),
            ("every killed worker reaped", left.is_empty()),
            ("no zombie under the supervisor", zombies.is_empty()),
            ("back to 2 online workers", restored),
            ("load was served", fresh.counts.ok > 0 && kept.counts.ok > 0),
        ]),
        figures: json!({
            "kills": kills.len(),
            "seconds": start.elapsed().as_secs_f64(),
            "without_keep_alive": { "counts": fresh.counts, "attribution": on_fresh },
            "with_keep_alive": { "counts": kept.counts, "attribution": on_kept },
            "not_reaped": left,
            "zombies": zombies,
        }),
    })
}

/// One worker stopped with `SIGSTOP`: its health checks fail, it is
/// replaced, and no request on a new connection fails meanwhile.
pub fn stopped_worker(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Outcome> {
    let mut sup = Supervisor::start(bins)?;
    let loads = Loads::start(&sup, lengths.rate);
    std::thread::sleep(Duration::from_secs(2));
    let online = sup.online_workers()?;
    let &pid = online.choose(&mut rand::rng()).expect("an online worker");
    kill(Pid::from_raw(pid), Signal::SIGSTOP)?;
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(30);
    let replaced = loop {
        let status = sup.status()?;
        let gone = workers(&status).all(|w| w["pid"] != pid);
        let online = workers(&status).filter(|w| w["state"] == "online").count();
        if gone && online == 2 {
            break Some(stopped.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let left = procs::survivors(&[pid], Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let (fresh, kept) = loads.stop();
    let reason = sup.status()?["apps"][0]["restarts"].clone();
    Ok(Outcome {
        scenario: "stopped_worker",
        verdicts: BTreeMap::from([
            (
                "replaced after failing its health checks",
                replaced.is_some(),
            ),
            ("the stopped worker is gone", left.is_empty()),
            ("no failure without keep-alive", fresh.counts.failed() == 0),
            (
                "no failure on a new connection with keep-alive",
                kept.counts.failed_on_new_connections() == 0,
            ),
        ]),
        figures: json!({
            "replaced_after_s": replaced.map(|d| d.as_secs_f64()),
            "restarts": reason,
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}

/// The supervisor killed with `SIGKILL`: every process of its tree dies with
/// it, and started again it serves on the same port.
pub fn kill_supervisor(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Outcome> {
    let mut sup = Supervisor::start(bins)?;
    let before = sup.online_workers()?;
    let tree: Vec<i32> = procs::tree(sup.pid())
        .into_iter()
        .filter(|&p| p != sup.pid())
        .collect();
    let killed = Instant::now();
    sup.kill_hard()?;
    let left = procs::survivors(&tree, Duration::from_secs(5));
    let all_gone = killed.elapsed();
    let started = Instant::now();
    sup.spawn()?;
    let back = started.elapsed();
    let after = sup.online_workers()?;
    let loads = Loads::start(&sup, lengths.rate);
    std::thread::sleep(Duration::from_secs(2));
    let (fresh, kept) = loads.stop();
    Ok(Outcome {
        scenario: "kill_supervisor",
        verdicts: BTreeMap::from([
            ("no process of the tree survives", left.is_empty()),
            (
                "new workers after the restart",
                after.iter().all(|p| !before.contains(p)),
            ),
            (
                "serves on the same port with no failure",
                fresh.counts.failed() == 0 && kept.counts.failed() == 0 && fresh.counts.ok > 0,
            ),
        ]),
        figures: json!({
            "tree": tree.len(),
            "survivors": left,
            "all_gone_within_s": all_gone.as_secs_f64(),
            "online_again_after_s": back.as_secs_f64(),
            "port": sup.addr.port(),
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}

/// Many reloads under load, then a look at what every process holds: each
/// new worker the same open files as the first ones (stdio, its sockets and
/// what the app opens itself), the supervisor as many fds as at the start
/// and about the same memory.
pub fn leaks(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Outcome> {
    let mut sup = Supervisor::start(bins)?;
    std::thread::sleep(Duration::from_secs(1));
    let first: Vec<_> = sup
        .online_workers()?
        .into_iter()
        .map(procs::fd_targets)
        .collect::<anyhow::Result<_>>()?;
    let (fds_before, rss_before) = (procs::fd_count(sup.pid())?, procs::rss_bytes(sup.pid())?);
    let loads = Loads::start(&sup, lengths.rate / 4);
    for _ in 0..lengths.leak_reloads {
        sup.reload()?;
    }
    let (fresh, kept) = loads.stop();
    std::thread::sleep(Duration::from_secs(1));
    let last: Vec<_> = sup
        .online_workers()?
        .into_iter()
        .map(procs::fd_targets)
        .collect::<anyhow::Result<_>>()?;
    let (fds_after, rss_after) = (procs::fd_count(sup.pid())?, procs::rss_bytes(sup.pid())?);
    let odd: Vec<_> = last
        .iter()
        .filter_map(|fds| compare_fds(&first, fds))
        .collect();
    let supervisor = procs::fd_targets(sup.pid())?;
    let inherited: Vec<_> = last
        .iter()
        .map(|fds| shared_with(fds, &supervisor))
        .collect();
    let rss_growth = rss_after as f64 / rss_before as f64 - 1.0;
    Ok(Outcome {
        scenario: "leaks",
        verdicts: BTreeMap::from([
            (
                "every new worker holds what the first ones held",
                first.len() == 2 && odd.is_empty(),
            ),
            (
                "every worker inherited only stdio and sockets",
                last.len() == 2 && inherited.iter().all(|shared| only_sockets(shared)),
            ),
            ("supervisor fd count unchanged", fds_after == fds_before),
            ("supervisor RSS within 10% of its start", rss_growth <= 0.10),
            (
                "no failure during the reloads",
                fresh.counts.failed() == 0 && kept.counts.failed_on_new_connections() == 0,
            ),
        ]),
        figures: json!({
            "reloads": lengths.leak_reloads,
            "supervisor_fds": [fds_before, fds_after],
            "supervisor_rss_bytes": [rss_before, rss_after],
            "first_workers_fds": first,
            "last_workers_fds": last,
            "differences": odd,
            "inherited_past_stdio": inherited,
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}
