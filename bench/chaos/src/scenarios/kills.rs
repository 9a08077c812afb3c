//! Scenarios of killed and stopped processes: workers killed with
//! `SIGKILL`, a worker stopped with `SIGSTOP`, the supervisor killed with
//! `SIGKILL`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::seq::IndexedRandom as _;
use serde_json::json;

use super::{Findings, Lengths, Loads, sleep_until};
use crate::attribution::{Kill, attribute};
use crate::procs;
use crate::supervisor::{Binaries, Supervisor};

/// A random online worker killed with `SIGKILL` every second: only the
/// requests on its connections may fail, every killed worker is reaped, and
/// the app is back to its count.
pub fn kill_workers(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
    let mut sup = Supervisor::start(bins)?;
    let loads = Loads::start(&sup, lengths.rate);
    let start = Instant::now();
    let (mut kills, mut killed, mut vanished) = (Vec::new(), Vec::new(), 0);
    let mut second = 1;
    while Duration::from_secs(second) <= lengths.kill_for {
        sleep_until(start + Duration::from_secs(second));
        second += 1;
        // A status read just after a kill may still show the dead worker
        // online: never pick one twice.
        let mut online = sup.online_workers()?;
        online.retain(|pid| !killed.contains(pid));
        let Some(&pid) = online.choose(&mut rand::rng()) else {
            continue;
        };
        let Some((peers, at)) = procs::kill_and_list_peers(pid, sup.addr.port())? else {
            vanished += 1;
            continue;
        };
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
    Ok(Findings {
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
            "exited_before_the_kill": vanished,
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
pub fn stopped_worker(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
    let mut sup = Supervisor::start(bins)?;
    let loads = Loads::start(&sup, lengths.rate);
    std::thread::sleep(Duration::from_secs(2));
    let online = sup.online_workers()?;
    let &pid = online.choose(&mut rand::rng()).expect("an online worker");
    kill(Pid::from_raw(pid), Signal::SIGSTOP)?;
    let replaced = sup.wait_replaced(pid, Duration::from_secs(30))?;
    let left = procs::survivors(&[pid], Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let (fresh, kept) = loads.stop();
    let restarts = sup.status()?["apps"][0]["restarts"].clone();
    Ok(Findings {
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
            "restarts": restarts,
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}

/// The supervisor killed with `SIGKILL`: every process of its tree dies with
/// it, and started again it serves on the same port.
pub fn kill_supervisor(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
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
    Ok(Findings {
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
