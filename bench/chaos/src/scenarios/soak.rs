//! The soak: a long run at a steady rate with a rolling reload and a killed
//! worker at fixed intervals, sampling the supervisor's memory and open
//! files as it goes, to find what leaks slowly enough to hide in a short
//! run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::seq::IndexedRandom as _;
use serde_json::json;

use super::reloads::WARM_UP;
use super::{Findings, Lengths, Loads, sleep_until};
use crate::attribution::{Kill, attribute};
use crate::procs;
use crate::supervisor::{Binaries, Supervisor};
use crate::trend::slope_per_minute;

/// `lengths.soak_for` of steady load with a rolling reload every
/// `soak_reload_every` and a random worker killed every `soak_kill_every`;
/// after [`WARM_UP`] reloads, the supervisor's RSS and fd count are sampled
/// every `soak_sample_every`, each time at rest (both workers online, the
/// last one killed replaced). Flat means an RSS slope under
/// `soak_rss_bound_kib_per_min` and the same fd count at every sample;
/// every failed request must be on a killed worker's connection.
pub fn soak(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
    let mut sup = Supervisor::start(bins)?;
    let loads = Loads::start(&sup, lengths.rate);
    for _ in 0..WARM_UP {
        sup.reload()?;
    }
    let start = Instant::now();
    let (mut next_reload, mut next_kill) = (
        start + lengths.soak_reload_every,
        start + lengths.soak_kill_every,
    );
    let (mut reloads, mut kills, mut killed) = (0, Vec::new(), Vec::new());
    let (mut rss_kib, mut fds) = (Vec::new(), Vec::new());
    let mut tick = 0;
    while lengths.soak_sample_every * tick <= lengths.soak_for {
        sleep_until(start + lengths.soak_sample_every * tick);
        tick += 1;
        if Instant::now() >= next_reload {
            next_reload += lengths.soak_reload_every;
            sup.reload()?;
            reloads += 1;
        }
        if Instant::now() >= next_kill {
            next_kill += lengths.soak_kill_every;
            let online = sup.online_workers()?;
            let &pid = online.choose(&mut rand::rng()).expect("an online worker");
            if let Some((peers, at)) = procs::kill_and_list_peers(pid, sup.addr.port())? {
                kills.push(Kill { at, peers });
                killed.push(pid);
                // The next sample is taken at rest.
                if sup.wait_replaced(pid, Duration::from_secs(30))?.is_none() {
                    bail!("worker {pid}, killed, was not replaced within 30 s");
                }
            }
        }
        let at = start.elapsed().as_secs_f64();
        rss_kib.push((at, procs::rss_bytes(sup.pid())? as f64 / 1024.0));
        fds.push(procs::fd_count(sup.pid())?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let (fresh, kept) = loads.stop();
    let left = procs::survivors(&killed, Duration::from_secs(5));
    let zombies = procs::zombies_under(sup.pid());
    let on_fresh = attribute(&kills, &fresh.failures);
    let on_kept = attribute(&kills, &kept.failures);
    let slope = slope_per_minute(&rss_kib);
    Ok(Findings {
        scenario: "soak",
        verdicts: BTreeMap::from([
            (
                "supervisor RSS flat (slope under the bound)",
                slope.is_some_and(|s| s < lengths.soak_rss_bound_kib_per_min),
            ),
            (
                "supervisor fd count the same at every sample",
                fds.windows(2).all(|w| w[0] == w[1]),
            ),
            (
                "every failure was on a killed worker's connection",
                on_fresh.unexplained == 0 && on_kept.unexplained == 0,
            ),
            ("every killed worker reaped", left.is_empty()),
            ("no zombie under the supervisor", zombies.is_empty()),
            ("load was served", fresh.counts.ok > 0 && kept.counts.ok > 0),
        ]),
        figures: json!({
            "seconds": seconds,
            "warm_up_reloads": WARM_UP,
            "reloads": reloads,
            "kills": kills.len(),
            "rss_slope_kib_per_min": slope,
            "rss_slope_bound_kib_per_min": lengths.soak_rss_bound_kib_per_min,
            "rss_kib": rss_kib,
            "fds": fds,
            "without_keep_alive": { "counts": fresh.counts, "attribution": on_fresh },
            "with_keep_alive": { "counts": kept.counts, "attribution": on_kept },
            "not_reaped": left,
            "zombies": zombies,
        }),
    })
}
