//! What the supervisor tells systemd over a run: `READY=1` with `STATUS=`,
//! `WATCHDOG=1`, `STOPPING=1`; systemd's socket never reaches a worker.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helper::{Corral, FakeSystemd, get_json};

#[test]
fn the_supervisor_tells_systemd_ready_status_watchdog_and_stopping_and_hides_its_socket_from_workers()
 {
    let systemd = FakeSystemd::start();
    let mut corral = Corral::start_with(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        "#,
        |cmd| {
            cmd.env("NOTIFY_SOCKET", systemd.path())
                .env("WATCHDOG_USEC", "200000");
        },
    );
    corral.wait_online();
    let ready = systemd.expect("READY=1");
    assert!(ready.contains("STATUS=api online 2/2"), "{ready}");
    systemd.expect("WATCHDOG=1");
    let info = get_json(corral.listen_addr(), "/info");
    assert!(
        info["notify_socket"]
            .as_str()
            .is_some_and(|s| s.starts_with("@corral/")),
        "{info}"
    );
    assert_eq!(info["watchdog_usec"], serde_json::Value::Null);
    corral.signal(Signal::SIGTERM);
    systemd.expect("STOPPING=1");
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
}
