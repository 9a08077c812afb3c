//! The health endpoint's behaviour, switchable at run time so that tests can
//! make a healthy worker fail its checks: `GET /health` passes (200), fails
//! (500) or hangs (accepts, reads the request and never answers, like a
//! deadlocked server), per the mode `TW_HEALTH` sets at start and
//! `GET /health/set?mode=...` changes later, on any socket.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::http::query_param;
use crate::json;

/// How `GET /health` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 `{"status":"pass"}`.
    Pass = 0,
    /// 500 `{"status":"fail"}`.
    Fail = 1,
    /// No answer; the connection stays open until the process exits.
    Hang = 2,
}

impl Mode {
    /// Parses `pass`, `fail` or `hang`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pass" => Some(Self::Pass),
            "fail" => Some(Self::Fail),
            "hang" => Some(Self::Hang),
            _ => None,
        }
    }

    /// The name `parse` takes.
    fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Hang => "hang",
        }
    }
}

/// The current mode, shared by every connection thread.
pub struct Health(AtomicU8);

impl Health {
    /// Starts in `mode`.
    pub fn new(mode: Mode) -> Self {
        Self(AtomicU8::new(mode as u8))
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        match self.0.load(Ordering::SeqCst) {
            0 => Mode::Pass,
            1 => Mode::Fail,
            _ => Mode::Hang,
        }
    }

    /// `GET /health`: the answer, or `None` to hold the connection open
    /// without answering.
    pub fn answer(&self) -> Option<(u16, String)> {
        match self.mode() {
            Mode::Pass => Some((200, "{\"status\":\"pass\"}".to_owned())),
            Mode::Fail => Some((500, "{\"status\":\"fail\"}".to_owned())),
            Mode::Hang => None,
        }
    }

    /// `GET /health/set?mode=pass|fail|hang`: switches the mode.
    pub fn set(&self, pid: u32, query: &str) -> (u16, String) {
        match query_param(query, "mode").and_then(Mode::parse) {
            Some(mode) => {
                self.0.store(mode as u8, Ordering::SeqCst);
                eprintln!("test-worker health mode {} pid={pid}", mode.name());
                let body = format!("{{\"pid\":{pid},\"health\":\"{}\"}}", mode.name());
                (200, body)
            }
            None => (
                400,
                json::error("query parameter mode must be pass, fail or hang"),
            ),
        }
    }
}
