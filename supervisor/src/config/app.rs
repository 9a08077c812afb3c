//! One `[[apps]]` table, with its `health_check` and `logs` tables.
//!
//! Defaults live here, next to the key they fill, and follow PM2 where PM2
//! has one.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::format::{Item, StrftimeItems};
use nix::sys::signal::Signal;
use toml::de::DeValue;

use super::error::ConfigError;
use super::fields::Table;
use super::{
    AppConfig, HealthCheck, Instances, LogFormat, LogsConfig, RotateInterval, Rotation, env,
    resolve_path,
};

pub(super) const APP_KEYS: &[&str] = &[
    "name",
    "command",
    "args",
    "cwd",
    "instances",
    "pin_cpus",
    "listen",
    "listen_backlog",
    "user",
    "group",
    "kill_signal",
    "kill_timeout",
    "wait_ready",
    "listen_timeout",
    "autorestart",
    "min_uptime",
    "max_restarts",
    "restart_delay",
    "exp_backoff_restart_delay",
    "max_memory_restart",
    "memory_check_interval",
    "memory_check_samples",
    "health_check",
    "watchdog",
    "log_date_format",
    "logs",
    "env",
];
pub(super) const HEALTH_KEYS: &[&str] =
    &["path", "interval", "timeout", "grace_period", "failures"];
pub(super) const LOGS_KEYS: &[&str] = &[
    "out",
    "error",
    "format",
    "max_size",
    "retain",
    "compress",
    "rotate_interval",
];
pub(super) const OWN_LOG_KEYS: &[&str] = &[
    "file",
    "format",
    "max_size",
    "retain",
    "compress",
    "rotate_interval",
];
const DEFAULT_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%:z";
/// Unstable restarts back off from here unless told otherwise: restarting
/// a failing start in a tight loop only hammers whatever it depends on.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);

/// Parses one app. The flag says whether it has the `env_<env_name>` table,
/// so the caller can tell a `--env` that selects nothing.
pub(super) fn parse(
    t: &Table<'_, '_>,
    base_dir: &Path,
    env_name: Option<&str>,
) -> Result<(AppConfig, bool), ConfigError> {
    t.reject_unknown(APP_KEYS, |key| env::overlay_name(key).is_some())?;
    let name = t.required("name", t.parsed("name", "app name", check_name)?)?;
    let command = t.required("command", t.parsed("command", "command", non_empty)?)?;
    let secs = Duration::from_secs;
    let (env, has_overlay) = env::parse(t, env_name)?;
    let app = AppConfig {
        args: t.list("args", "argument", verbatim)?.unwrap_or_default(),
        cwd: resolve_path(base_dir, t.string("cwd")?.as_deref().unwrap_or(".")),
        instances: instances(t)?.unwrap_or(Instances::Count(1)),
        pin_cpus: t.boolean("pin_cpus")?.unwrap_or(false),
        listen: t
            .list("listen", "address", parse_socket_addr)?
            .unwrap_or_default(),
        listen_backlog: t
            .integer("listen_backlog", 1, 65_535)?
            .map_or(1024, |n| n as u32),
        user: t.parsed("user", "user", non_empty)?,
        group: t.parsed("group", "group", non_empty)?,
        kill_signal: t
            .parsed("kill_signal", "signal", parse_signal)?
            .unwrap_or(Signal::SIGTERM),
        kill_timeout: t.duration("kill_timeout")?.unwrap_or(secs(5)),
        wait_ready: t.boolean("wait_ready")?.unwrap_or(false),
        listen_timeout: t.positive_duration("listen_timeout")?.unwrap_or(secs(3)),
        autorestart: t.boolean("autorestart")?.unwrap_or(true),
        min_uptime: t.duration("min_uptime")?.unwrap_or(secs(1)),
        max_restarts: t.u32_from("max_restarts", 0)?.unwrap_or(16),
        restart_delay: t.duration("restart_delay")?.unwrap_or(Duration::ZERO),
        exp_backoff_restart_delay: t
            .duration("exp_backoff_restart_delay")?
            .map_or(Some(DEFAULT_BACKOFF), |d| Some(d).filter(|d| !d.is_zero())),
        max_memory_restart: t.size("max_memory_restart")?,
        memory_check_interval: t
            .positive_duration("memory_check_interval")?
            .unwrap_or(secs(1)),
        memory_check_samples: t.u32_from("memory_check_samples", 1)?.unwrap_or(3),
        health_check: t
            .table("health_check", "health_check")?
            .map(|h| health(&h))
            .transpose()?,
        watchdog: t.positive_duration("watchdog")?,
        log_date_format: t
            .parsed("log_date_format", "strftime format", check_date_format)?
            .unwrap_or_else(|| DEFAULT_DATE_FORMAT.to_owned()),
        logs: logs(t.table("logs", "logs")?, &name)?,
        env,
        name,
        command,
    };
    Ok((app, has_overlay))
}

/// `"max"`, `n` workers, or `-k` for all CPUs but `k`.
fn instances(t: &Table<'_, '_>) -> Result<Option<Instances>, ConfigError> {
    let Some(value) = t.get("instances") else {
        return Ok(None);
    };
    let hint = "use \"max\", a number of workers, or -k for all CPUs but k";
    match value.get_ref() {
        DeValue::String(s) if s.as_ref() == "max" => Ok(Some(Instances::Max)),
        DeValue::String(s) => {
            Err(t.invalid("instances", value, format!("{s:?} is a string; {hint}")))
        }
        DeValue::Integer(_) => {
            let limit = i64::from(u32::MAX);
            match t.integer("instances", -limit, limit)?.unwrap_or_default() {
                0 => Err(t.invalid("instances", value, format!("0 runs nothing; {hint}"))),
                n @ 1.. => Ok(Some(Instances::Count(n as u32))),
                k => Ok(Some(Instances::Relative(k.unsigned_abs() as u32))),
            }
        }
        _ => Err(t.wrong_type("instances", value, "\"max\" or an integer")),
    }
}

fn health(t: &Table<'_, '_>) -> Result<HealthCheck, ConfigError> {
    t.reject_unknown(HEALTH_KEYS, |_| false)?;
    let secs = Duration::from_secs;
    let path = t.parsed("path", "path", |p| {
        p.strip_prefix('/')
            .map(|_| p.to_owned())
            .ok_or("must start with '/'")
    })?;
    Ok(HealthCheck {
        path: path.unwrap_or_else(|| "/health".into()),
        interval: t.positive_duration("interval")?.unwrap_or(secs(5)),
        timeout: t.positive_duration("timeout")?.unwrap_or(secs(2)),
        grace_period: t.duration("grace_period")?.unwrap_or(secs(3)),
        failures: t.u32_from("failures", 1)?.unwrap_or(3),
    })
}

fn logs(table: Option<Table<'_, '_>>, app: &str) -> Result<LogsConfig, ConfigError> {
    let mut logs = LogsConfig {
        out: format!("{app}-out.log"),
        error: format!("{app}-error.log"),
        format: LogFormat::Text,
        rotation: DEFAULT_ROTATION,
    };
    let Some(t) = table else { return Ok(logs) };
    t.reject_unknown(LOGS_KEYS, |_| false)?;
    logs.out = t.parsed("out", "file name", non_empty)?.unwrap_or(logs.out);
    logs.error = t
        .parsed("error", "file name", non_empty)?
        .unwrap_or(logs.error);
    logs.format = log_format(&t)?;
    logs.rotation = rotation(&t)?;
    Ok(logs)
}

/// Rotation as apps and the supervisor's own log have it by default: by
/// neither size nor time, 30 rotated files kept, not compressed.
const DEFAULT_ROTATION: Rotation = Rotation {
    max_size: None,
    interval: None,
    retain: 30,
    compress: false,
};

/// `format = "text" | "json"`, text when absent.
pub(super) fn log_format(t: &Table<'_, '_>) -> Result<LogFormat, ConfigError> {
    let format = |s: &str| match s.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("use \"text\" or \"json\""),
    };
    Ok(t.parsed("format", "log format", format)?
        .unwrap_or(LogFormat::Text))
}

/// `max_size`, `rotate_interval`, `retain` and `compress` of a logs table.
pub(super) fn rotation(t: &Table<'_, '_>) -> Result<Rotation, ConfigError> {
    let interval = |s: &str| match s.to_ascii_lowercase().as_str() {
        "hourly" => Ok(RotateInterval::Hourly),
        "daily" => Ok(RotateInterval::Daily),
        _ => Err("use \"hourly\" or \"daily\""),
    };
    Ok(Rotation {
        max_size: t.size("max_size")?,
        interval: t.parsed("rotate_interval", "interval", interval)?,
        retain: t.u32_from("retain", 0)?.unwrap_or(DEFAULT_ROTATION.retain),
        compress: t.boolean("compress")?.unwrap_or(DEFAULT_ROTATION.compress),
    })
}

/// `[supervisor.logs]`: the supervisor's own log file.
pub(super) fn own_log(t: &Table<'_, '_>) -> Result<super::OwnLog, ConfigError> {
    t.reject_unknown(OWN_LOG_KEYS, |_| false)?;
    Ok(super::OwnLog {
        file: t
            .parsed("file", "file name", non_empty)?
            .unwrap_or_else(|| "corral.log".to_owned()),
        format: log_format(t)?,
        rotation: rotation(t)?,
    })
}

/// A name the CLI can tell apart: `all` means every app, and a word that
/// ends in `.toml` names an ecosystem file (`corral start FILE|APP`).
fn check_name(name: &str) -> Result<String, &'static str> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !(1..=64).contains(&name.len()) || !name.chars().all(valid) {
        Err("use 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'")
    } else if name == "all" {
        Err("`all` is reserved: `corral reload all` means every app")
    } else if name.ends_with(".toml") {
        Err("a name ending in .toml would be taken for an ecosystem file by `corral start`")
    } else {
        Ok(name.to_owned())
    }
}

fn non_empty(text: &str) -> Result<String, &'static str> {
    if text.is_empty() {
        Err("must not be empty")
    } else {
        Ok(text.to_owned())
    }
}

fn verbatim(text: &str) -> Result<String, std::convert::Infallible> {
    Ok(text.to_owned())
}

/// `"SIGTERM"`, `"TERM"` and `"sigterm"` all name SIGTERM.
pub(super) fn parse_signal(text: &str) -> Result<Signal, &'static str> {
    let upper = text.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).map_err(|_| "not a signal name; use e.g. \"SIGTERM\" or \"INT\"")
}

/// An IP and a port; host names are refused because a bind must not depend on DNS.
pub(super) fn parse_socket_addr(text: &str) -> Result<SocketAddr, &'static str> {
    text.parse()
        .map_err(|_| "write an IP address and a port, e.g. \"0.0.0.0:3000\" or \"[::1]:3000\"")
}

fn check_date_format(format: &str) -> Result<String, &'static str> {
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err("unknown or incomplete % specifier; e.g. \"%Y-%m-%d %H:%M:%S\" is valid")
    } else {
        Ok(format.to_owned())
    }
}
