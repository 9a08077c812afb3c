//! The database's pools, timeouts, slow-statement log and read replicas:
//! `APP_DB_*`, `DATABASE_REPLICA_URLS`, and where the SQLite writer runs
//! (`CORRAL_CPUS`).
//!
//! What each knob does is the data layer's ([`DbOptions`]); here they are
//! read, checked and defaulted.

use std::time::Duration;

use super::SettingsError;
use crate::data::{DbOptions, PoolSizes, Timeouts};

/// The largest pool accepted: a worker is one of several sharing the
/// server's connection limit (PostgreSQL's default is 100), so more is
/// surely a typo.
pub(super) const POOL_MAX: u32 = 1_000;

/// Reads every variable through `get` (which already treats empty values
/// as unset); unset ones keep their default. `primary` is `DATABASE_URL`:
/// replicas need a PostgreSQL one.
pub(super) fn read(
    get: impl Fn(&str) -> Option<String>,
    primary: &str,
) -> Result<DbOptions, SettingsError> {
    let defaults = DbOptions::default();
    let duration = |var: &'static str, default: Duration| match get(var) {
        None => Ok(default),
        Some(value) => match humantime::parse_duration(value.trim()) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(SettingsError {
                var,
                value,
                expected: "a duration such as 2s or 500ms",
            }),
        },
    };
    let count = |var: &'static str, default: u32, expected: &'static str| match get(var) {
        None => Ok(default),
        Some(value) => match value.trim().parse::<u32>() {
            Ok(n) if n <= POOL_MAX => Ok(n),
            _ => Err(SettingsError {
                var,
                value,
                expected,
            }),
        },
    };
    let timeouts = Timeouts {
        connect: duration("APP_DB_CONNECT_TIMEOUT", defaults.timeouts.connect)?,
        statement: duration("APP_DB_STATEMENT_TIMEOUT", defaults.timeouts.statement)?,
    };
    let max = count(
        "APP_DB_POOL_MAX",
        defaults.pool.max,
        "a number of connections from 1 to 1000, such as 8",
    )?;
    if max == 0 {
        return Err(SettingsError {
            var: "APP_DB_POOL_MAX",
            value: "0".into(),
            expected: "a number of connections from 1 to 1000, such as 8",
        });
    }
    let min = count(
        "APP_DB_POOL_MIN",
        defaults.pool.min,
        "a number of connections from 0 to APP_DB_POOL_MAX, such as 2",
    )?;
    if min > max {
        return Err(SettingsError {
            var: "APP_DB_POOL_MIN",
            value: min.to_string(),
            expected: "a number of connections from 0 to APP_DB_POOL_MAX, such as 2",
        });
    }
    let pool = PoolSizes {
        max,
        min,
        idle_timeout: duration("APP_DB_IDLE_TIMEOUT", defaults.pool.idle_timeout)?,
    };
    let replica_max = count(
        "APP_DB_REPLICA_POOL_MAX",
        pool.max,
        "a number of connections from 1 to 1000, such as 8",
    )?;
    let replica_min = count(
        "APP_DB_REPLICA_POOL_MIN",
        pool.min.min(replica_max),
        "a number of connections from 0 to APP_DB_REPLICA_POOL_MAX, such as 2",
    )?;
    if replica_max == 0 || replica_min > replica_max {
        let (var, value) = if replica_max == 0 {
            ("APP_DB_REPLICA_POOL_MAX", replica_max)
        } else {
            ("APP_DB_REPLICA_POOL_MIN", replica_min)
        };
        return Err(SettingsError {
            var,
            value: value.to_string(),
            expected: "a pool of 1 to 1000 connections, at least as many as its minimum",
        });
    }
    let replica_pool = PoolSizes {
        max: replica_max,
        min: replica_min,
        idle_timeout: duration("APP_DB_REPLICA_IDLE_TIMEOUT", pool.idle_timeout)?,
    };
    let slow_statement = match get("APP_DB_SLOW_STATEMENT") {
        None => defaults.slow_statement,
        Some(value) if value.trim() == "off" => None,
        Some(value) => match humantime::parse_duration(value.trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            _ => {
                return Err(SettingsError {
                    var: "APP_DB_SLOW_STATEMENT",
                    value,
                    expected: "a duration such as 1s or 200ms, or off",
                });
            }
        },
    };
    Ok(DbOptions {
        timeouts,
        pool,
        slow_statement,
        replicas: replicas(get("DATABASE_REPLICA_URLS"), primary)?,
        replica_pool,
        replica_acquire_timeout: duration(
            "APP_DB_REPLICA_ACQUIRE_TIMEOUT",
            defaults.replica_acquire_timeout,
        )?,
        replica_max_lag: duration("APP_DB_REPLICA_MAX_LAG", defaults.replica_max_lag)?,
        writer_cpus: match get("CORRAL_CPUS") {
            None => Vec::new(),
            Some(list) => cpu_list(&list).ok_or(SettingsError {
                var: "CORRAL_CPUS",
                value: list,
                expected: "a CPU list such as 0-3,6 (corral sets it)",
            })?,
        },
    })
}

/// `DATABASE_REPLICA_URLS`: PostgreSQL URLs separated by commas, for a
/// PostgreSQL primary.
fn replicas(list: Option<String>, primary: &str) -> Result<Vec<String>, SettingsError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let bad = |expected| SettingsError {
        var: "DATABASE_REPLICA_URLS",
        value: redact_list(&list),
        expected,
    };
    let postgres = |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !postgres(primary) {
        return Err(bad(
            "no replicas: only a PostgreSQL DATABASE_URL has read replicas",
        ));
    }
    let urls: Vec<String> = list.split(',').map(|url| url.trim().to_owned()).collect();
    if urls.iter().any(|url| !postgres(url)) {
        return Err(bad(
            "postgres:// URLs separated by commas, such as postgres://app@replica1/app,postgres://app@replica2/app",
        ));
    }
    Ok(urls)
}

/// A list of URLs with every password masked.
fn redact_list(list: &str) -> String {
    list.split(',')
        .map(|url| crate::infrastructure::redact::redact(url.trim()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The CPUs of a kernel CPU list (`0-3,6`), in order; `None` when it is
/// not one.
fn cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (from.parse::<usize>().ok()?, to.parse::<usize>().ok()?);
                if to < from || to >= 4096 {
                    return None;
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(part.parse().ok().filter(|&cpu: &usize| cpu < 4096)?),
        }
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "postgres://app@primary/app";

    fn read_pairs(pairs: &[(&str, &str)]) -> Result<DbOptions, SettingsError> {
        read(
            |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            },
            PRIMARY,
        )
    }

    #[test]
    fn replicas_are_postgres_urls_for_a_postgres_primary() {
        let options = read_pairs(&[
            (
                "DATABASE_REPLICA_URLS",
                " postgres://a@r1/app , postgresql://a:pw@r2:5433/app",
            ),
            ("APP_DB_POOL_MAX", "6"),
            ("APP_DB_REPLICA_POOL_MIN", "1"),
            ("APP_DB_REPLICA_MAX_LAG", "3s"),
            ("APP_DB_REPLICA_ACQUIRE_TIMEOUT", "100ms"),
        ])
        .unwrap();
        assert_eq!(
            options.replicas,
            ["postgres://a@r1/app", "postgresql://a:pw@r2:5433/app"]
        );
        assert_eq!((options.replica_pool.max, options.replica_pool.min), (6, 1));
        assert_eq!(options.replica_max_lag, Duration::from_secs(3));
        assert_eq!(options.replica_acquire_timeout, Duration::from_millis(100));
        let err = read_pairs(&[(
            "DATABASE_REPLICA_URLS",
            "postgres://a:secret@r1/app,mysql://r2",
        )])
        .unwrap_err();
        assert_eq!(err.var, "DATABASE_REPLICA_URLS");
        assert!(!err.to_string().contains("secret"), "{err}");
        let sqlite = read(
            |name| (name == "DATABASE_REPLICA_URLS").then(|| "postgres://r1/app".to_owned()),
            "sqlite://data/app.db",
        )
        .unwrap_err();
        assert_eq!(
            sqlite.to_string(),
            "DATABASE_REPLICA_URLS=\"postgres://r1/app\" is not valid: expected no replicas: \
             only a PostgreSQL DATABASE_URL has read replicas"
        );
    }

    #[test]
    fn corral_cpus_is_a_kernel_cpu_list() {
        let options = read_pairs(&[("CORRAL_CPUS", "0-2,5")]).unwrap();
        assert_eq!(options.writer_cpus, [0, 1, 2, 5]);
        assert!(read_pairs(&[]).unwrap().writer_cpus.is_empty());
        for bad in ["a", "3-1", "1,", "0-99999"] {
            let err = read_pairs(&[("CORRAL_CPUS", bad)]).unwrap_err();
            assert_eq!(err.var, "CORRAL_CPUS", "{bad}");
        }
    }

    #[test]
    fn unset_variables_keep_the_data_layers_defaults() {
        let options = read_pairs(&[]).unwrap();
        assert_eq!(options, DbOptions::default());
        assert_eq!(options.pool.max, 8);
        assert_eq!(options.pool.min, 0);
        assert_eq!(options.slow_statement, Some(Duration::from_secs(1)));
    }

    #[test]
    fn every_variable_is_read() {
        let options = read_pairs(&[
            ("APP_DB_CONNECT_TIMEOUT", "300ms"),
            ("APP_DB_STATEMENT_TIMEOUT", "2s"),
            ("APP_DB_POOL_MAX", "20"),
            ("APP_DB_POOL_MIN", "2"),
            ("APP_DB_IDLE_TIMEOUT", "30s"),
            ("APP_DB_SLOW_STATEMENT", "250ms"),
        ])
        .unwrap();
        assert_eq!(options.timeouts.connect, Duration::from_millis(300));
        assert_eq!(options.timeouts.statement, Duration::from_secs(2));
        let pool = PoolSizes {
            max: 20,
            min: 2,
            idle_timeout: Duration::from_secs(30),
        };
        assert_eq!(options.pool, pool);
        assert_eq!(options.slow_statement, Some(Duration::from_millis(250)));
        let off = read_pairs(&[("APP_DB_SLOW_STATEMENT", "off")]).unwrap();
        assert_eq!(off.slow_statement, None);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("APP_DB_CONNECT_TIMEOUT", "0s"),
            ("APP_DB_STATEMENT_TIMEOUT", "soon"),
            ("APP_DB_POOL_MAX", "0"),
            ("APP_DB_POOL_MAX", "1001"),
            ("APP_DB_POOL_MAX", "-1"),
            ("APP_DB_IDLE_TIMEOUT", "0ms"),
            ("APP_DB_SLOW_STATEMENT", "0s"),
            ("APP_DB_SLOW_STATEMENT", "never"),
        ] {
            let err = read_pairs(&[(var, value)]).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
        let err = read_pairs(&[("APP_DB_POOL_MAX", "4"), ("APP_DB_POOL_MIN", "5")]).unwrap_err();
        assert_eq!(err.var, "APP_DB_POOL_MIN");
        assert_eq!(
            err.to_string(),
            "APP_DB_POOL_MIN=\"5\" is not valid: expected a number of connections from 0 to \
             APP_DB_POOL_MAX, such as 2"
        );
    }
}
