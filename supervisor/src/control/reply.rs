//! What a request gets back: a JSON document, a stream of log lines, or a
//! problem in one sentence with the kind that decides the CLI's exit code.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A successful answer.
pub enum Reply {
    /// A JSON document (status, describe, a verb's outcome).
    Json(serde_json::Value),
    /// Log text, sent as it comes until the supervisor or the client ends it.
    Stream(mpsc::Receiver<Vec<u8>>),
}

impl Reply {
    /// `value` as a JSON reply.
    pub fn json(value: &impl Serialize) -> Self {
        Self::Json(serde_json::to_value(value).unwrap_or_default())
    }
}

/// What a verb that changes something did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// One sentence for the operator.
    pub message: String,
}

/// Why a request failed, and whose fault it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}")]
pub struct Problem {
    /// One sentence: what failed, on what, and what to do.
    pub error: String,
    /// Decides the exit code and the HTTP status.
    pub kind: Failure,
}

/// The kinds of failure, as exit codes see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// The request itself is wrong (an unknown app): exit 2.
    Usage,
    /// The ecosystem file is wrong (a reload refused): exit 2.
    Config,
    /// The operation ran and failed (a rollout stopped): exit 1.
    Failed,
}

impl Problem {
    /// A usage problem.
    pub fn usage(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            kind: Failure::Usage,
        }
    }

    /// A config problem.
    pub fn config(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            kind: Failure::Config,
        }
    }

    /// A failed operation.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            kind: Failure::Failed,
        }
    }

    /// Its HTTP status on the control socket.
    pub fn status(&self) -> u16 {
        match self.kind {
            Failure::Usage => 400,
            Failure::Config => 422,
            Failure::Failed => 409,
        }
    }

    /// The exit code of the verb that got it.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Failure::Usage | Failure::Config => 2,
            Failure::Failed => 1,
        }
    }
}
