//! The repository's own `ecosystem.toml`, as the README's quickstart runs
//! it: the app on SQLite, one worker per CPU, online, healthy, answering
//! on the shared port, and shown by `corral status`. Only the binary's path
//! and the port change (the test uses the debug build and port 0).

use std::path::Path;

use crate::helper::{Corral, app_bin, get};

#[test]
fn the_example_ecosystem_runs_the_app_healthy_on_every_cpu() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ecosystem.toml");
    let text = std::fs::read_to_string(&example).expect("read the example");
    let port = "\"127.0.0.1:3000\"";
    assert!(text.contains("command = \"target/release/app\"") && text.contains(port));
    let config = text
        .replace("target/release/app", &app_bin().display().to_string())
        .replace(port, "\"127.0.0.1:0\"");
    let mut corral = Corral::start(&config);
    let pids = corral.wait_online();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(pids.len(), cpus, "instances = \"max\" is one per CPU");
    let (status, body) = get(corral.listen_addr(), "/health").expect("GET /health");
    assert_eq!(status, 200, "{body}");
    assert!(corral.dir().join("data/app.db").exists());

    // Every worker's first health probe passes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let doc: serde_json::Value =
            serde_json::from_str(&corral.cli_ok(&["status", "--json"])).expect("status JSON");
        let workers = doc["apps"][0]["workers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if workers.len() == cpus && workers.iter().all(|w| w["health"] == "pass") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{doc:#}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let table = corral.cli_ok(&["status"]);
    assert_eq!(table.lines().count(), 1 + cpus, "{table}");
    assert!(
        table
            .lines()
            .skip(1)
            .all(|l| l.contains("online") && l.contains("pass")),
        "{table}"
    );
}
