//! What became of one request, sorted into the kinds the chaos scenarios
//! judge separately: a refused connection says no process held the port, a
//! reset on a new connection says a worker died or dropped work it had
//! taken, a reset on a reused keep-alive connection may be the ordinary
//! race of a server closing an idle connection, a timeout says a request
//! hung, and an error status says the server answered but failed.

use std::collections::BTreeMap;
use std::io::ErrorKind;

use serde::Serialize;

/// The kind of one request's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// The connection was refused: nothing listened on the port.
    Refused,
    /// A fresh connection was reset or closed before a whole response.
    ResetNew,
    /// A connection that had already carried a response was reset or
    /// closed before the whole response to this one.
    ResetReused,
    /// No whole response within the client's timeout.
    Timeout,
    /// A whole response with a status outside 2xx.
    Status(u16),
    /// Anything else: a malformed response, or a client-side limit such as
    /// running out of local ports; a failure of the client, not a verdict
    /// on the server, but counted so that nothing goes missing.
    Other,
}

/// How a request ended, as the client saw it, before classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A whole response with this status.
    Answered(u16),
    /// The client's timer ran out.
    TimedOut,
    /// An I/O error of this kind (a clean close before a whole response is
    /// `UnexpectedEof`).
    Io(ErrorKind),
    /// The bytes received were not an HTTP/1.1 response.
    Malformed,
}

/// Sorts one request's ending; `reused` says whether its connection had
/// already carried a response.
pub fn classify(ending: Ending, reused: bool) -> Outcome {
    match ending {
        Ending::Answered(status) if (200..300).contains(&status) => Outcome::Ok,
        Ending::Answered(status) => Outcome::Status(status),
        Ending::TimedOut | Ending::Io(ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Outcome::Timeout
        }
        Ending::Io(ErrorKind::ConnectionRefused) => Outcome::Refused,
        Ending::Io(
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected,
        ) if reused => Outcome::ResetReused,
        Ending::Io(
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected,
        ) => Outcome::ResetNew,
        Ending::Io(_) | Ending::Malformed => Outcome::Other,
    }
}

/// How many requests ended each way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests answered 2xx.
    pub ok: u64,
    /// Refused connections.
    pub refused: u64,
    /// Resets (or early closes) of fresh connections.
    pub reset_new: u64,
    /// Resets (or early closes) of reused keep-alive connections.
    pub reset_reused: u64,
    /// Requests with no whole answer in time.
    pub timeout: u64,
    /// Answers outside 2xx, by status.
    pub status: BTreeMap<u16, u64>,
    /// Failures of none of the kinds above.
    pub other: u64,
}

impl Counts {
    /// Counts one more request.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::ResetNew => self.reset_new += 1,
            Outcome::ResetReused => self.reset_reused += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::Status(code) => *self.status.entry(code).or_default() += 1,
            Outcome::Other => self.other += 1,
        }
    }

    /// Adds another run's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.ok += other.ok;
        self.refused += other.refused;
        self.reset_new += other.reset_new;
        self.reset_reused += other.reset_reused;
        self.timeout += other.timeout;
        for (code, n) in &other.status {
            *self.status.entry(*code).or_default() += n;
        }
        self.other += other.other;
    }

    /// Every request that did not end 2xx.
    pub fn failed(&self) -> u64 {
        self.refused
            + self.reset_new
            + self.reset_reused
            + self.timeout
            + self.status.values().sum::<u64>()
            + self.other
    }

    /// Failures a client on a fresh connection would see: everything but
    /// resets of reused keep-alive connections.
    pub fn failed_on_new_connections(&self) -> u64 {
        self.failed() - self.reset_reused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_ok_only_in_the_2xx_range() {
        assert_eq!(classify(Ending::Answered(200), false), Outcome::Ok);
        assert_eq!(classify(Ending::Answered(204), true), Outcome::Ok);
        assert_eq!(classify(Ending::Answered(199), false), Outcome::Status(199));
        assert_eq!(classify(Ending::Answered(300), false), Outcome::Status(300));
        assert_eq!(classify(Ending::Answered(503), true), Outcome::Status(503));
    }

    #[test]
    fn a_reset_is_sorted_by_whether_the_connection_was_reused() {
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
            ErrorKind::NotConnected,
        ] {
            assert_eq!(classify(Ending::Io(kind), false), Outcome::ResetNew);
            assert_eq!(classify(Ending::Io(kind), true), Outcome::ResetReused);
        }
    }

    #[test]
    fn refusals_timeouts_and_the_rest_keep_their_kind_on_any_connection() {
        for reused in [false, true] {
            let refused = Ending::Io(ErrorKind::ConnectionRefused);
            assert_eq!(classify(refused, reused), Outcome::Refused);
            assert_eq!(classify(Ending::TimedOut, reused), Outcome::Timeout);
            let timed_out = Ending::Io(ErrorKind::TimedOut);
            assert_eq!(classify(timed_out, reused), Outcome::Timeout);
            assert_eq!(classify(Ending::Malformed, reused), Outcome::Other);
            let no_port = Ending::Io(ErrorKind::AddrNotAvailable);
            assert_eq!(classify(no_port, reused), Outcome::Other);
        }
    }

    #[test]
    fn counts_add_up_and_keep_keep_alive_resets_apart() {
        let mut counts = Counts::default();
        for outcome in [
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Refused,
            Outcome::ResetNew,
            Outcome::ResetReused,
            Outcome::Timeout,
            Outcome::Status(503),
            Outcome::Status(503),
            Outcome::Other,
        ] {
            counts.add(outcome);
        }
        assert_eq!(counts.ok, 2);
        assert_eq!(counts.status[&503], 2);
        assert_eq!(counts.failed(), 7);
        assert_eq!(counts.failed_on_new_connections(), 6);
        let mut twice = counts.clone();
        twice.merge(&counts);
        assert_eq!(twice.failed(), 14);
        assert_eq!(twice.status[&503], 4);
    }
}
