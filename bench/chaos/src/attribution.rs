//! Which failed requests a killed worker explains.
//!
//! Just before each kill the scenario freezes the worker (`SIGSTOP`, so it
//! accepts nothing more), lists the client ports of the connections it holds
//! on the shared port, then sends `SIGKILL`. A failed request is explained
//! by that kill when its connection is one of those (same local port,
//! opened before the kill) and it failed after the kill. Every other failure
//! is one the kill should not have caused: a request lost in the shared
//! queue, or on a worker that was not killed.

use std::collections::BTreeSet;
use std::time::Instant;

use serde::Serialize;

use crate::client::Failure;

/// One killed worker, as it was when it died.
#[derive(Clone, Debug)]
pub struct Kill {
    /// When it was killed.
    pub at: Instant,
    /// The client-side ports of the connections it held on the shared port.
    pub peers: BTreeSet<u16>,
}

/// The failures of a run, told apart by whether a kill explains them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// Connections the killed workers held when they died, in total: the
    /// most requests the kills could fail.
    pub connections_on_killed: usize,
    /// Failed requests that were in flight on a killed worker's connection.
    pub in_flight: usize,
    /// Failed requests sent after the kill on a keep-alive connection the
    /// killed worker held idle (the kernel reset it when the worker died).
    pub idle_kept: usize,
    /// Failed requests no kill explains.
    pub unexplained: usize,
}

/// Sorts `failures` by the kills that explain them.
pub fn attribute(kills: &[Kill], failures: &[Failure]) -> Attribution {
    let mut attribution = Attribution {
        connections_on_killed: kills.iter().map(|k| k.peers.len()).sum(),
        ..Attribution::default()
    };
    for failure in failures {
        let kill = kills.iter().find(|kill| {
            failure.port != 0
                && kill.peers.contains(&failure.port)
                && failure.opened <= kill.at
                && kill.at <= failure.ended
        });
        match kill {
            Some(kill) if failure.started <= kill.at => attribution.in_flight += 1,
            Some(_) => attribution.idle_kept += 1,
            None => attribution.unexplained += 1,
        }
    }
    attribution
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::outcome::Outcome;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn failure(base: Instant, port: u16, opened: u64, started: u64, ended: u64) -> Failure {
        Failure {
            outcome: Outcome::ResetNew,
            port,
            opened: at(base, opened),
            started: at(base, started),
            ended: at(base, ended),
        }
    }

    fn kill(base: Instant, ms: u64, peers: &[u16]) -> Kill {
        Kill {
            at: at(base, ms),
            peers: peers.iter().copied().collect(),
        }
    }

    #[test]
    fn a_request_in_flight_on_the_killed_workers_connection_is_explained() {
        let base = Instant::now();
        let kills = [kill(base, 100, &[4000, 4001])];
        let failures = [failure(base, 4000, 10, 90, 101)];
        let got = attribute(&kills, &failures);
        assert_eq!(got.connections_on_killed, 2);
        assert_eq!((got.in_flight, got.idle_kept, got.unexplained), (1, 0, 0));
    }

    #[test]
    fn a_request_sent_later_on_an_idle_kept_connection_is_told_apart() {
        let base = Instant::now();
        let kills = [kill(base, 100, &[4000])];
        let failures = [failure(base, 4000, 10, 150, 151)];
        let got = attribute(&kills, &failures);
        assert_eq!((got.in_flight, got.idle_kept, got.unexplained), (0, 1, 0));
    }

    #[test]
    fn a_failure_on_another_port_or_a_later_connection_is_unexplained() {
        let base = Instant::now();
        let kills = [kill(base, 100, &[4000])];
        let failures = [
            // A connection the killed worker did not hold.
            failure(base, 4001, 10, 90, 101),
            // The same port, reused by a connection opened after the kill.
            failure(base, 4000, 200, 200, 210),
            // A failure before the kill happened.
            failure(base, 4000, 10, 20, 50),
            // No connection at all (refused).
            failure(base, 0, 10, 90, 101),
        ];
        let got = attribute(&kills, &failures);
        assert_eq!((got.in_flight, got.idle_kept, got.unexplained), (0, 0, 4));
    }

    #[test]
    fn each_failure_is_matched_against_every_kill() {
        let base = Instant::now();
        let kills = [kill(base, 100, &[4000]), kill(base, 1100, &[5000])];
        let failures = [
            failure(base, 4000, 10, 90, 101),
            failure(base, 5000, 1000, 1090, 1101),
        ];
        let got = attribute(&kills, &failures);
        assert_eq!(got.connections_on_killed, 2);
        assert_eq!((got.in_flight, got.unexplained), (2, 0));
    }
}
