//! The part of an app's config that the lifecycle decides with.

use std::time::Duration;

use super::policy::RestartPolicy;
use crate::config::AppConfig;

/// What makes a launching worker online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `wait_ready = true`: its `READY=1`.
    Notify,
    /// `health_check` set: its first passing probe.
    Health,
    /// Neither: having stayed up for `min_uptime`.
    Uptime,
}

/// The health probe's schedule and threshold (its path and timeout are the
/// manager's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthParams {
    /// Time between probes of an online worker.
    pub interval: Duration,
    /// Time after spawn during which failures are not counted.
    pub grace_period: Duration,
    /// Failures in a row that get a worker replaced.
    pub failures: u32,
}

/// `max_memory_restart` and how many samples in a row must exceed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// The limit, in bytes of PSS.
    pub bytes: u64,
    /// Samples in a row over the limit that get a worker replaced.
    pub samples: u32,
}

/// Everything the lifecycle of one app depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Slots to keep filled.
    pub instances: usize,
    /// What makes a worker online.
    pub readiness: Readiness,
    /// How long a launching worker may take to be ready (with
    /// [`Readiness::Notify`] and [`Readiness::Health`]).
    pub listen_timeout: Duration,
    /// When to restart and when to give up.
    pub restart: RestartPolicy,
    /// How long a worker may drain before it is killed.
    pub kill_timeout: Duration,
    /// Health checks, if any.
    pub health: Option<HealthParams>,
    /// The memory limit, if any.
    pub memory: Option<MemoryLimit>,
    /// How often memory and CPU are sampled.
    pub sample_interval: Duration,
    /// The heartbeat period a worker must keep, if any.
    pub watchdog: Option<Duration>,
}

impl Params {
    /// The lifecycle parameters of `app` on a machine with `cpus` usable CPUs.
    pub fn new(app: &AppConfig, cpus: usize) -> Self {
        let readiness = if app.wait_ready {
            Readiness::Notify
        } else if app.health_check.is_some() {
            Readiness::Health
        } else {
            Readiness::Uptime
        };
        Self {
            instances: app.instances.resolve(cpus),
            readiness,
            listen_timeout: app.listen_timeout,
            restart: RestartPolicy::from(app),
            kill_timeout: app.kill_timeout,
            health: app.health_check.as_ref().map(|h| HealthParams {
                interval: h.interval,
                grace_period: h.grace_period,
                failures: h.failures,
            }),
            memory: app.max_memory_restart.map(|bytes| MemoryLimit {
                bytes,
                samples: app.memory_check_samples,
            }),
            sample_interval: app.memory_check_interval,
            watchdog: app.watchdog,
        }
    }
}
