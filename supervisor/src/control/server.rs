//! The control socket's server side: a Unix socket only the supervisor's
//! user (or root) may talk to, serving HTTP/1.1 requests that map one to
//! one onto [`Request`]s.
//!
//! The socket is created 0600 in a folder made 0700, and every connection's
//! peer is identified by the kernel (`SO_PEERCRED`), never by anything the
//! client says: another user's connection is logged and closed before a
//! byte is read. The socket is close-on-exec, so no worker inherits it.

use std::convert::Infallible;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use nix::unistd::Uid;
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use super::handlers::Handler;
use super::reply::{Problem, Reply};
use super::request::Request;

/// Why the control socket cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another supervisor answers on it.
    #[error(
        "the control socket {path} is in use by another corral (pid {pid}); stop it first, or give this one another control_socket"
    )]
    InUse {
        /// The socket.
        path: PathBuf,
        /// The other supervisor.
        pid: i32,
    },
    /// The folder or the socket cannot be made.
    #[error("cannot create the control socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The bound control socket; the file is removed when it is dropped.
/// Bound before the runtime starts (so a second supervisor is refused
/// before anything else), served inside it.
pub struct ControlSocket {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path`: its folder made (0700 when this process creates it,
    /// or owns it), a stale socket of a dead supervisor replaced, a live
    /// one refused, the socket itself 0600.
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io = |source| BindError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
            let owned = std::fs::metadata(dir).map_err(io)?.uid() == Uid::effective().as_raw();
            if owned {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io)?;
            }
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(live) => {
                let pid =
                    nix::sys::socket::getsockopt(&live, nix::sys::socket::sockopt::PeerCredentials)
                        .map_or(0, |cred| cred.pid());
                return Err(BindError::InUse {
                    path: path.to_owned(),
                    pid,
                });
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            // Nobody listens: a supervisor that died left it behind.
            Err(_) => std::fs::remove_file(path).map_err(io)?,
        }
        let listener = std::os::unix::net::UnixListener::bind(path).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    /// Serves connections until the runtime stops.
    pub async fn serve(self, handler: Arc<Handler>) {
        let listener = match self.listener.try_clone().and_then(UnixListener::from_std) {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(%err, path = %self.path.display(), "cannot serve the control socket");
                return;
            }
        };
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "control socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !allowed(&stream) {
                continue;
            }
            tokio::spawn(connection(stream, handler.clone()));
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the peer is the supervisor's own user or root; a refusal is
/// logged with who tried.
fn allowed(stream: &UnixStream) -> bool {
    match stream.peer_cred() {
        Ok(cred) if may_control(cred.uid(), Uid::effective().as_raw()) => true,
        Ok(cred) => {
            tracing::warn!(uid = cred.uid(), pid = ?cred.pid(), "control connection refused: another user");
            false
        }
        Err(err) => {
            tracing::warn!(%err, "control connection refused: cannot identify the peer");
            false
        }
    }
}

/// The rule: the supervisor's own user, or root.
pub fn may_control(peer: u32, own: u32) -> bool {
    peer == own || peer == 0
}

pub(super) async fn connection(stream: UnixStream, handler: Arc<Handler>) {
    let service = service_fn(move |request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(respond(&handler, request).await) }
    });
    // A client may shut its write side once the request is sent (`nc -N`,
    // `socat`); without half-closes hyper would drop it unanswered. Once
    // the answer has begun, the end of the client's input still ends the
    // connection, so a `logs --follow` client that went away is let go at
    // once, not at the next line (checked by hand: a follower killed, or a
    // client closing before or during its request, while the log is quiet).
    if let Err(err) = http1::Builder::new()
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%err, "control connection ended with an error");
    }
}

type Body = BoxBody<Bytes, Infallible>;

async fn respond(handler: &Handler, request: hyper::Request<Incoming>) -> Response<Body> {
    let uri = request.uri();
    let parsed = Request::from_http(request.method().as_str(), uri.path(), uri.query());
    let outcome = match parsed {
        Ok(request) => handler.handle(request).await,
        Err(bad) => Err(Problem::usage(bad.0)),
    };
    match outcome {
        Ok(Reply::Json(value)) => json(StatusCode::OK, &value),
        Ok(Reply::Stream(lines)) => {
            let frames =
                ReceiverStream::new(lines).map(|chunk| Ok(Frame::data(Bytes::from(chunk))));
            Response::builder()
                .header("content-type", "text/plain; charset=utf-8")
                .body(StreamBody::new(frames).boxed())
                .expect("a valid response")
        }
        Err(problem) => {
            let status = StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::CONFLICT);
            json(status, &problem)
        }
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_user_or_root_may_control() {
        assert!(may_control(1000, 1000));
        assert!(may_control(0, 1000));
        assert!(!may_control(1001, 1000));
        assert!(!may_control(65534, 0));
    }

    #[tokio::test]
    async fn the_kernel_names_the_peer_of_a_socketpair() {
        let (a, _b) = UnixStream::pair().expect("socketpair");
        let cred = a.peer_cred().expect("peer credentials");
        assert_eq!(cred.uid(), Uid::effective().as_raw());
        assert!(allowed(&a));
    }
}
