//! The CLI's side of the control socket: finding it, sending one request,
//! and telling "no supervisor" (exit 3) from a refused request.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

use super::reply::Problem;
use super::request::Request;
use crate::config;

/// Where the control socket is when nothing says otherwise: the unit's
/// `RuntimeDirectory=corral`.
pub const DEFAULT_SOCKET: &str = "/run/corral/corral.sock";

/// The socket a verb talks to, and what named it (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The socket.
    pub path: PathBuf,
    /// `--socket`, `CORRAL_SOCKET`, `./ecosystem.toml` or the default.
    pub by: &'static str,
}

/// Finds the control socket: `--socket`, then `CORRAL_SOCKET`, then the
/// `control_socket` of `./ecosystem.toml`, then [`DEFAULT_SOCKET`].
pub fn locate(flag: Option<&Path>) -> Result<Located, config::ConfigError> {
    if let Some(path) = flag {
        return Ok(Located {
            path: path.to_owned(),
            by: "--socket",
        });
    }
    if let Some(path) = std::env::var_os("CORRAL_SOCKET").filter(|p| !p.is_empty()) {
        return Ok(Located {
            path: path.into(),
            by: "CORRAL_SOCKET",
        });
    }
    let here = Path::new("ecosystem.toml");
    if here.exists() {
        let eco = config::load(here, None)?;
        return Ok(Located {
            path: eco.supervisor.control_socket,
            by: "./ecosystem.toml",
        });
    }
    Ok(Located {
        path: DEFAULT_SOCKET.into(),
        by: "the default",
    })
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket: exit 3.
    #[error("no supervisor is running at {} (found from {by}): start one with `corral start`", path.display())]
    NotRunning {
        /// The socket.
        path: PathBuf,
        /// What named it.
        by: &'static str,
    },
    /// The supervisor answered that the request failed.
    #[error("{0}")]
    Refused(Problem),
    /// The conversation itself failed.
    #[error("{0}")]
    Broken(String),
}

impl ClientError {
    /// The verb's exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotRunning { .. } => 3,
            Self::Refused(problem) => problem.exit_code(),
            Self::Broken(_) => 1,
        }
    }
}

/// Sends `request` and returns the successful response, its body unread
/// (a JSON document, or a stream of log text).
pub async fn send(
    at: &Located,
    request: &Request,
) -> Result<hyper::Response<Incoming>, ClientError> {
    let stream = UnixStream::connect(&at.path)
        .await
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ClientError::NotRunning {
                path: at.path.clone(),
                by: at.by,
            },
            _ => ClientError::Broken(format!("cannot reach {}: {err}", at.path.display())),
        })?;
    let broken = |err: hyper::Error| {
        ClientError::Broken(format!(
            "the supervisor at {} closed the connection ({err}); only its own user or root may control it",
            at.path.display()
        ))
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(broken)?;
    tokio::spawn(connection);
    let (method, target) = request.to_http();
    let http = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", "corral")
        .body(Empty::<Bytes>::new())
        .map_err(|err| ClientError::Broken(err.to_string()))?;
    let response = sender.send_request(http).await.map_err(broken)?;
    if response.status().is_success() {
        return Ok(response);
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(broken)?
        .to_bytes();
    let problem = serde_json::from_slice::<Problem>(&body)
        .unwrap_or_else(|_| Problem::failed(String::from_utf8_lossy(&body).trim().to_owned()));
    Err(ClientError::Refused(problem))
}

/// Sends `request` and reads its JSON answer.
pub async fn call<T: serde::de::DeserializeOwned>(
    at: &Located,
    request: &Request,
) -> Result<T, ClientError> {
    let response = send(at, request).await?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| ClientError::Broken(format!("the answer was cut: {err}")))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|err| {
        ClientError::Broken(format!("the answer is not what this corral expects: {err}"))
    })
}
