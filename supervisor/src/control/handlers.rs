//! The supervisor's side of each request: `status` is answered from the
//! published state at once; every other request is a [`Call`] to the
//! daemon, which owns the apps, and is answered when it is done.

use tokio::sync::{mpsc, oneshot};

use super::reply::{Problem, Reply};
use super::request::Request;
use super::schema::Observed;

/// A request for the daemon, with where to send the answer.
pub struct Call {
    /// What is asked.
    pub request: Request,
    /// Where the answer goes, once the work is done.
    pub reply: oneshot::Sender<Result<Reply, Problem>>,
}

/// Serves requests: reads state, or hands them to the daemon.
pub struct Handler {
    observed: Observed,
    calls: mpsc::UnboundedSender<Call>,
}

impl Handler {
    /// A handler reading `observed` and calling the daemon through `calls`.
    pub fn new(observed: Observed, calls: mpsc::UnboundedSender<Call>) -> Self {
        Self { observed, calls }
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request) -> Result<Reply, Problem> {
        if request == Request::Status {
            return Ok(Reply::json(&self.observed.snapshot()));
        }
        let (reply, answer) = oneshot::channel();
        if self.calls.send(Call { request, reply }).is_err() {
            return Err(Problem::failed("the supervisor is shutting down"));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Problem::failed("the supervisor stopped before it answered")))
    }
}
