//! Scenarios of reloads: rolling reloads at a steady rate under load, and
//! many reloads followed by a look for leaked fds and memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Findings, Lengths, Loads, sleep_until};
use crate::fds::{compare_fds, only_sockets, shared_with};
use crate::procs;
use crate::supervisor::{Binaries, Supervisor};

/// Rolling reloads at a steady rate under both loads: no request may fail
/// without keep-alive, and none on a new connection with it.
pub fn rolling_reloads(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
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
    Ok(Findings {
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
            "most_late_reload_start_s": late.as_secs_f64(),
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}

/// Reloads before the supervisor's memory is taken as the reference: the
/// first ones raise it once (by about 0.8 MiB: the reload's code paged in,
/// the heap reaching its working size; measured in docs/reliability.md),
/// then it stays flat.
pub(super) const WARM_UP: u32 = 10;

/// Many reloads under load, then a look at what every process holds: each
/// new worker the same open files as the first ones (stdio, its sockets and
/// what the app opens itself), the supervisor as many fds as at the start
/// and about the same memory.
pub fn leaks(bins: &Binaries, lengths: &Lengths) -> anyhow::Result<Findings> {
    let mut sup = Supervisor::start(bins)?;
    std::thread::sleep(Duration::from_secs(1));
    let first: Vec<_> = sup
        .online_workers()?
        .into_iter()
        .map(procs::fd_targets)
        .collect::<anyhow::Result<_>>()?;
    let (fds_before, rss_before) = (procs::fd_count(sup.pid())?, procs::rss_bytes(sup.pid())?);
    let loads = Loads::start(&sup, lengths.rate / 4);
    for _ in 0..WARM_UP {
        sup.reload()?;
    }
    let rss_warm = procs::rss_bytes(sup.pid())?;
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
    let rss_growth = rss_after as f64 / rss_warm as f64 - 1.0;
    Ok(Findings {
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
            (
                "supervisor RSS within 5% of its level after the warm-up",
                rss_growth <= 0.05,
            ),
            (
                "no failure during the reloads",
                fresh.counts.failed() == 0 && kept.counts.failed_on_new_connections() == 0,
            ),
        ]),
        figures: json!({
            "reloads": lengths.leak_reloads,
            "supervisor_fds": [fds_before, fds_after],
            "warm_up_reloads": WARM_UP,
            "supervisor_rss_bytes": { "start": rss_before, "warm": rss_warm, "end": rss_after },
            "first_workers_fds": first,
            "last_workers_fds": last,
            "differences": odd,
            "inherited_past_stdio": inherited,
            "without_keep_alive": fresh.counts,
            "with_keep_alive": kept.counts,
        }),
    })
}
