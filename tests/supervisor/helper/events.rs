//! Reading the supervisor's log events: the fields tests pick out of them,
//! and watching for a while when what matters is that nothing happens.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Corral, EVENT_TIMEOUT};

/// The `pid` field of an event.
pub fn pid_of(event: &Value) -> i32 {
    event["pid"].as_i64().expect("a pid field") as i32
}

/// The time from event `a` to event `b`, by their own timestamps: what the
/// supervisor did, however late the test read it.
pub fn time_between(a: &Value, b: &Value) -> Duration {
    let at = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().expect("a timestamp"))
            .expect("an RFC 3339 timestamp")
    };
    (at(b) - at(a)).to_std().expect("b after a")
}

impl Corral {
    /// Reads every event logged within `period`. For checks that something
    /// does *not* happen, where no event can end the wait: the period is
    /// how long the test watched, and [`Corral::events`] covers it.
    pub fn observe(&mut self, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            self.pull(until);
        }
    }

    /// Waits until the events so far, all of them and in order, satisfy
    /// `cond`: for a condition on several events, such as "a rollout that
    /// started after that one completed".
    pub fn wait_until(&mut self, what: &str, cond: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        while !cond(&self.events) {
            assert!(self.pull(deadline), "timed out waiting for {what}");
        }
    }

    /// The private health socket of the worker `pid`, from its "worker
    /// spawned" event: it serves every route of the test worker, and only
    /// that worker answers there (the shared port reaches any of them).
    pub fn health_addr(&self, pid: i32) -> SocketAddr {
        let spawned = self.events("worker spawned");
        let event = spawned
            .iter()
            .find(|e| pid_of(e) == pid)
            .unwrap_or_else(|| panic!("no worker spawned with pid {pid}"));
        event["health_addr"]
            .as_str()
            .expect("a health_addr field")
            .parse()
            .expect("a socket address")
    }

    /// Waits for a line on stderr that is not a JSON event and contains
    /// `needle` (what a wrapper such as `systemd-socket-activate` prints
    /// before corral runs), and returns it.
    pub fn wait_plain(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Some(line) = self.plain.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                self.pull(deadline),
                "timed out waiting for {needle:?} on stderr"
            );
        }
    }

    /// Events so far whose message satisfies `pred`.
    pub fn events_matching(&self, pred: impl Fn(&str) -> bool) -> Vec<Value> {
        let mut events = self.events.clone();
        events.retain(|e| e["message"].as_str().is_some_and(&pred));
        events
    }

    /// Events with this message whose `pid` is `pid`.
    pub fn events_of(&self, message: &str, pid: i32) -> Vec<Value> {
        let mut events = self.events(message);
        events.retain(|e| e["pid"].as_i64() == Some(i64::from(pid)));
        events
    }
}
