//! The supervisor's own conversation with systemd when it runs as a
//! `Type=notify` service: the channel and the watchdog heartbeat. What is
//! said when (`READY=1`, `STATUS=`, `RELOADING=1`, `STOPPING=1`) is the
//! daemon's (`daemon::reported`).
//!
//! `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` are the supervisor's
//! own: they never reach workers (see `worker::base_env`).

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends one state change to systemd; a no-op outside systemd. Failures are
/// logged, never fatal: losing a status line must not stop the supervisor.
pub fn notify(state: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(state) {
        tracing::warn!(%err, "cannot notify systemd");
    }
}

/// The heartbeat period systemd asked for (half of `WATCHDOG_USEC`), if any.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|usec| usec / 2)
}

/// Sends `WATCHDOG=1` every `period` until the runtime stops.
pub fn spawn_watchdog(period: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            notify(&[NotifyState::Watchdog]);
        }
    });
}
