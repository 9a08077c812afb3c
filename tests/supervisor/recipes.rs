//! The recipes of docs/workers.md, proven with the real servers: gunicorn,
//! uvicorn and Node.js under corral, each serving the shared port from two
//! workers, reloaded under load (new connections, then keep-alive ones), and
//! stopped with an in-flight request answered and no process of their trees
//! left.
//!
//! The three configs below are the ones docs/workers.md shows, verbatim. The
//! servers come from a venv the tests make once (`helper::runtimes`) and the
//! machine's `node`; without them the tests say they are skipped.

mod run;

use std::path::Path;

use crate::helper::runtimes::{node, python_venv};
use run::{Recipe, run};

const GUNICORN: &str = r#"
[[apps]]
name = "web"
command = "gunicorn"
args = ["--workers", "2", "--preload", "--graceful-timeout", "4", "--no-control-socket", "wsgi_app:app"]
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
kill_timeout = "5s"
"#;

const UVICORN: &str = r#"
[[apps]]
name = "web"
command = "uvicorn"
args = ["--fd", "3", "--backlog", "1024", "--timeout-graceful-shutdown", "4", "asgi_app:app"]
instances = 2
listen = ["127.0.0.1:0"]
min_uptime = "1s"
kill_timeout = "5s"
"#;

const NODE: &str = r#"
[[apps]]
name = "web"
command = "node"
args = ["node_worker.js"]
instances = 2
listen = ["127.0.0.1:0"]
min_uptime = "1s"
kill_timeout = "5s"
"#;

#[test]
fn gunicorn_serves_from_every_worker_reloads_without_a_failed_request_and_stops_clean() {
    let Some(venv) = python_venv() else { return };
    let run = run(&Recipe {
        config: GUNICORN,
        file: "wsgi_app.py",
        path: Some(venv.join("bin")),
        forks: 2,
        serves_health: true,
        reloads: 3,
        keep_alive_reloads: 1,
    });
    run.assert_no_failed_request();
    run.assert_stopped_with("exit code 0");
}

#[test]
fn uvicorn_serves_from_every_worker_reloads_and_stops_clean() {
    let Some(venv) = python_venv() else { return };
    let (reloads, keep_alive_reloads) = (5, 1);
    let run = run(&Recipe {
        config: UVICORN,
        file: "asgi_app.py",
        path: Some(venv.join("bin")),
        forks: 0,
        serves_health: false,
        reloads,
        keep_alive_reloads,
    });
    // uvicorn's shutdown closes every connection with no request in
    // progress: accepted but not read yet, or idle between keep-alive
    // requests (docs/workers.md). Measured and reported, not asserted.
    eprintln!(
        "uvicorn, new connections, 5 reloads: {}",
        run.fresh.summary()
    );
    eprintln!("uvicorn, keep-alive, 1 reload: {}", run.kept.summary());
    assert!(run.fresh.ok > 0 && run.kept.ok > 0);
    // It re-raises the SIGTERM it handled once drained.
    run.assert_stopped_with("signal SIGTERM");
}

#[test]
fn node_serves_from_every_worker_reloads_without_a_failed_request_and_stops_clean() {
    if node().is_none() {
        return;
    }
    let run = run(&Recipe {
        config: NODE,
        file: "node_worker.js",
        path: None,
        forks: 0,
        serves_health: true,
        reloads: 3,
        keep_alive_reloads: 2,
    });
    run.assert_no_failed_request();
    run.assert_stopped_with("exit code 0");
}

#[test]
fn docs_show_the_tested_configs_verbatim() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/workers.md");
    let docs = std::fs::read_to_string(&path).expect("read docs/workers.md");
    for config in [GUNICORN, UVICORN, NODE, crate::real_app::CONFIG] {
        let block = format!("```toml\n{}```", config.trim_start());
        assert!(
            docs.contains(&block),
            "docs/workers.md must show this tested config verbatim:{config}"
        );
    }
}
