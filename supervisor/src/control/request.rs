//! The closed set of requests `corral <verb>` sends a running supervisor,
//! and their mapping to HTTP over the control socket. Both directions are
//! here, so the client and the server cannot drift apart.

use serde::{Deserialize, Serialize};

/// Which apps a request is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Every app (`all`).
    All,
    /// One app, by name.
    App(String),
}

impl Target {
    /// `all`, or an app's name, as the operator typed it.
    pub fn parse(word: &str) -> Self {
        if word == "all" {
            Self::All
        } else {
            Self::App(word.to_owned())
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::All => "all",
            Self::App(name) => name,
        }
    }
}

/// Which log files `logs` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Streams {
    /// Both, interleaved as written.
    Both,
    /// stdout only (`--out`).
    Out,
    /// stderr only (`--err`).
    Err,
}

/// What `logs` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsQuery {
    /// One app, or every app.
    pub app: Option<String>,
    /// Lines of history to print first, per file.
    pub lines: usize,
    /// Then keep printing new lines until interrupted.
    pub follow: bool,
    /// Which streams.
    pub streams: Streams,
}

/// One request to a running supervisor: the verb, the request and its
/// handler share a name (`reload`, `Request::Reload`, `handlers::reload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Every app and worker.
    Status,
    /// One app in depth.
    Describe {
        /// The app.
        app: String,
    },
    /// Re-read the ecosystem file and roll the new config out, new first.
    Reload {
        /// Which apps.
        target: Target,
    },
    /// Stop every worker and start new ones, all at once.
    Restart {
        /// Which apps.
        target: Target,
    },
    /// Stop every worker and keep the app stopped.
    Stop {
        /// Which apps.
        target: Target,
    },
    /// Start a stopped (or errored) app.
    Start {
        /// Which apps.
        target: Target,
    },
    /// Change the number of workers until the next reload.
    Scale {
        /// The app.
        app: String,
        /// How many.
        instances: u32,
    },
    /// Print (and follow) the apps' log files.
    Logs(LogsQuery),
    /// Reopen every log file (SIGUSR1).
    ReopenLogs,
    /// Stop every worker and exit (SIGTERM).
    Shutdown,
}

/// Why an HTTP request is not a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

impl Request {
    /// Its method and path (with query) on the control socket.
    pub fn to_http(&self) -> (&'static str, String) {
        match self {
            Self::Status => ("GET", "/v1/status".into()),
            Self::Describe { app } => ("GET", format!("/v1/describe/{app}")),
            Self::Reload { target } => ("POST", format!("/v1/reload/{}", target.as_str())),
            Self::Restart { target } => ("POST", format!("/v1/restart/{}", target.as_str())),
            Self::Stop { target } => ("POST", format!("/v1/stop/{}", target.as_str())),
            Self::Start { target } => ("POST", format!("/v1/start/{}", target.as_str())),
            Self::Scale { app, instances } => ("POST", format!("/v1/scale/{app}/{instances}")),
            Self::Logs(query) => {
                let mut path = format!(
                    "/v1/logs?lines={}&follow={}&streams={}",
                    query.lines,
                    query.follow,
                    match query.streams {
                        Streams::Both => "both",
                        Streams::Out => "out",
                        Streams::Err => "err",
                    }
                );
                if let Some(app) = &query.app {
                    path.push_str(&format!("&app={app}"));
                }
                ("GET", path)
            }
            Self::ReopenLogs => ("POST", "/v1/reopen-logs".into()),
            Self::Shutdown => ("POST", "/v1/shutdown".into()),
        }
    }

    /// The request a method and path mean; the inverse of [`Request::to_http`].
    pub fn from_http(method: &str, path: &str, query: Option<&str>) -> Result<Self, BadRequest> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let post = method == "POST";
        let get = method == "GET" || method == "HEAD";
        let request = match segments.as_slice() {
            ["v1", "status"] if get => Self::Status,
            ["v1", "describe", app] if get => Self::Describe {
                app: (*app).to_owned(),
            },
            ["v1", "reload", target] if post => Self::Reload {
                target: Target::parse(target),
            },
            ["v1", "restart", target] if post => Self::Restart {
                target: Target::parse(target),
            },
            ["v1", "stop", target] if post => Self::Stop {
                target: Target::parse(target),
            },
            ["v1", "start", target] if post => Self::Start {
                target: Target::parse(target),
            },
            ["v1", "scale", app, n] if post => Self::Scale {
                app: (*app).to_owned(),
                instances: n
                    .parse()
                    .map_err(|_| BadRequest(format!("{n:?} is not a number of workers")))?,
            },
            ["v1", "logs"] if get => Self::Logs(logs_query(query.unwrap_or_default())?),
            ["v1", "reopen-logs"] if post => Self::ReopenLogs,
            ["v1", "shutdown"] if post => Self::Shutdown,
            _ => return Err(BadRequest(format!("no such request: {method} {path}"))),
        };
        Ok(request)
    }
}

fn logs_query(query: &str) -> Result<LogsQuery, BadRequest> {
    let mut logs = LogsQuery {
        app: None,
        lines: 20,
        follow: false,
        streams: Streams::Both,
    };
    for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        match key {
            "app" => logs.app = Some(value.to_owned()),
            "lines" => {
                logs.lines = value
                    .parse()
                    .map_err(|_| BadRequest(format!("lines={value} is not a number")))?
            }
            "follow" => logs.follow = value == "true",
            "streams" => {
                logs.streams = match value {
                    "out" => Streams::Out,
                    "err" => Streams::Err,
                    _ => Streams::Both,
                }
            }
            _ => {}
        }
    }
    Ok(logs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_survives_the_trip_through_http() {
        let requests = [
            Request::Status,
            Request::Describe { app: "api".into() },
            Request::Reload {
                target: Target::All,
            },
            Request::Reload {
                target: Target::App("api".into()),
            },
            Request::Restart {
                target: Target::App("api".into()),
            },
            Request::Stop {
                target: Target::All,
            },
            Request::Start {
                target: Target::App("w-1.x".into()),
            },
            Request::Scale {
                app: "api".into(),
                instances: 4,
            },
            Request::Logs(LogsQuery {
                app: Some("api".into()),
                lines: 7,
                follow: true,
                streams: Streams::Err,
            }),
            Request::Logs(LogsQuery {
                app: None,
                lines: 0,
                follow: false,
                streams: Streams::Both,
            }),
            Request::ReopenLogs,
            Request::Shutdown,
        ];
        for request in requests {
            let (method, target) = request.to_http();
            let (path, query) = match target.split_once('?') {
                Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
                None => (target.clone(), None),
            };
            let back = Request::from_http(method, &path, query.as_deref());
            assert_eq!(back, Ok(request), "{method} {target}");
        }
    }

    #[test]
    fn a_write_is_never_a_get() {
        assert!(Request::from_http("GET", "/v1/shutdown", None).is_err());
        assert!(Request::from_http("POST", "/v1/status", None).is_err());
        assert!(Request::from_http("DELETE", "/v1/stop/all", None).is_err());
    }
}
