//! What `status` and `describe` print for people: aligned columns, human
//! units, and the reasons behind errored apps and stopped reloads.

use chrono::{DateTime, Utc};

use crate::app::{AppStatus, Health, WorkerStatus};
use crate::control::StatusDoc;
use crate::control::describe::Description;

const HEADERS: [&str; 11] = [
    "APP", "ID", "PID", "STATE", "UPTIME", "RESTARTS", "LAST", "MEMORY", "CPU", "HEALTH", "DROPPED",
];

/// The status table: one row per worker (one per app without any), then
/// the notes that say why an app is errored or a reload stopped.
pub fn status(doc: &StatusDoc, now: DateTime<Utc>) -> String {
    let mut out = workers(&doc.apps, now);
    for app in &doc.apps {
        if let Some(note) = &app.note {
            out.push_str(&format!("{}: {note}\n", app.name));
        }
    }
    if doc.apps.is_empty() {
        out.push_str("no apps\n");
    }
    out
}

/// The table's rows: one per worker, one per app without any.
fn workers(apps: &[AppStatus], now: DateTime<Utc>) -> String {
    let mut rows = vec![HEADERS.map(str::to_owned).to_vec()];
    for app in apps {
        let dropped = (app.dropped_lines.out + app.dropped_lines.err).to_string();
        if app.workers.is_empty() {
            let mut row = vec![
                app.name.clone(),
                "-".into(),
                "-".into(),
                app.state.to_string(),
            ];
            row.extend(std::iter::repeat_n("-".to_owned(), 6));
            row.push(dropped);
            rows.push(row);
            continue;
        }
        for worker in &app.workers {
            rows.push(worker_row(app, worker, &dropped, now));
        }
    }
    align(&rows)
}

fn worker_row(app: &AppStatus, w: &WorkerStatus, dropped: &str, now: DateTime<Utc>) -> Vec<String> {
    vec![
        app.name.clone(),
        w.instance.to_string(),
        w.pid.to_string(),
        w.state.to_string(),
        uptime(now, w.started_at),
        w.restarts.to_string(),
        w.last_reason.map_or("-".into(), |r| r.to_string()),
        w.memory_bytes.map_or("-".into(), bytes),
        w.cpu_percent.map_or("-".into(), |c| format!("{c:.1}%")),
        match w.health {
            None => "-".into(),
            Some(Health::Pending) => "pending".into(),
            Some(Health::Pass) => "pass".into(),
            Some(Health::Fail) => "fail".into(),
        },
        dropped.to_owned(),
    ]
}

/// One app in depth: its workers, where its instance count comes from,
/// its recent history and its resolved config.
pub fn describe(d: &Description, now: DateTime<Utc>) -> String {
    let app = &d.status;
    let mut out = format!(
        "{}: {} ({}/{} online)\n",
        app.name, app.state, app.online, app.desired
    );
    if let Some(note) = &app.note {
        out.push_str(&format!("  note: {note}\n"));
    }
    let cpus = &d.instances.cpus;
    out.push_str(&format!(
        "  instances: {} -> {} (usable CPUs {}: host {}, affinity {}, cgroup quota {})\n",
        d.instances.written,
        d.instances.resolved,
        cpus.usable,
        cpus.online.map_or("?".into(), |n| n.to_string()),
        cpus.affinity.map_or("?".into(), |n| n.to_string()),
        cpus.quota.map_or("none".into(), |q| format!("{q:.2}")),
    ));
    let restarts: Vec<String> = app
        .restarts
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    out.push_str(&format!(
        "  restarts: {}\n  dropped log lines: out {}, err {}\n\n",
        if restarts.is_empty() {
            "none".into()
        } else {
            restarts.join(", ")
        },
        app.dropped_lines.out,
        app.dropped_lines.err
    ));
    out.push_str(&workers(std::slice::from_ref(app), now));
    out.push_str("\nhistory:\n");
    if d.history.is_empty() {
        out.push_str("  (nothing yet)\n");
    }
    for entry in &d.history {
        let pid = entry.pid.map_or("-".into(), |p| p.to_string());
        out.push_str(&format!(
            "  {}  [{}] pid {pid}: {}\n",
            entry.at.format("%Y-%m-%d %H:%M:%S"),
            entry.instance,
            entry.event
        ));
    }
    out.push_str("\nconfig:\n");
    for line in d.config.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// Columns padded to their widest cell; the last one is not padded.
fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `45s`, `3m12s`, `2h05m`, `3d04h`.
pub fn uptime(now: DateTime<Utc>, since: DateTime<Utc>) -> String {
    let s = (now - since).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Bytes in powers of 1024, one decimal: `512K`, `41.2M`, `1.5G`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["K", "M", "G", "T"];
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 100.0 || unit == 0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_at_a_glance() {
        let t0 = DateTime::UNIX_EPOCH;
        let at = |s| t0 + chrono::TimeDelta::seconds(s);
        assert_eq!(uptime(at(45), t0), "45s");
        assert_eq!(uptime(at(192), t0), "3m12s");
        assert_eq!(uptime(at(7500), t0), "2h05m");
        assert_eq!(uptime(at(3 * 86_400 + 4 * 3600), t0), "3d04h");
        assert_eq!(bytes(512 * 1024), "512K");
        assert_eq!(bytes(43_201_331), "41.2M");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5G");
    }
}
