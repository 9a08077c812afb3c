//! SIGHUP: the file is re-read and every app is replaced one worker at a
//! time, new worker first, failing no request; a broken file or a new
//! worker that never gets ready leaves the running workers alone.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, Load, alive, get_json};

const CONFIG: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = 2
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "{listen_timeout}"
kill_timeout = "3s"
[apps.env]
TW_MARK = "{mark}"
"#;

#[test]
fn sighup_under_load_replaces_every_worker_without_a_failed_request() {
    let mut corral = Corral::start(
        &CONFIG
            .replace("{listen_timeout}", "10s")
            .replace("{mark}", "one"),
    );
    let old = corral.wait_online();
    let addr = corral.listen_addr();
    let load = Load::start(addr, 4);
    corral.write_config(
        &CONFIG
            .replace("{listen_timeout}", "10s")
            .replace("{mark}", "two"),
    );
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    let report = load.stop();
    assert!(
        report.failures.is_empty(),
        "failed requests during reload: {:?}",
        report.failures
    );
    assert!(report.ok > 0);
    let new: Vec<i32> = corral
        .events("worker online")
        .iter()
        .map(|e| e["pid"].as_i64().expect("pid") as i32)
        .filter(|pid| !old.contains(pid))
        .collect();
    assert_eq!(new.len(), 2, "every worker replaced");
    assert!(
        old.iter().all(|&pid| !alive(pid)),
        "old workers drained and gone"
    );
    for _ in 0..20 {
        let info = get_json(addr, "/info");
        assert_eq!(info["env_TW_MARK"], "two");
        assert!(new.contains(&(info["pid"].as_i64().expect("pid") as i32)));
    }
}

#[test]
fn sighup_with_a_broken_file_keeps_the_running_config() {
    let mut corral = Corral::start(
        &CONFIG
            .replace("{listen_timeout}", "10s")
            .replace("{mark}", "one"),
    );
    let old = corral.wait_online();
    corral.write_config("[[apps]]\nname = \"api\"\ncomand = \"x\"\n");
    corral.signal(Signal::SIGHUP);
    let refused = corral.wait_for("reload refused", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("reload refused"))
    });
    let message = refused["message"].as_str().expect("message");
    assert!(message.contains("ecosystem.toml:3:1"), "{message}");
    assert!(message.contains("did you mean `command`"), "{message}");
    let (mut spawned, mut old) = (corral.spawned_pids(), old);
    spawned.sort_unstable();
    old.sort_unstable();
    assert_eq!(spawned, old, "no worker was replaced");
    assert_eq!(
        get_json(corral.listen_addr(), "/info")["env_TW_MARK"],
        "one"
    );
}

#[test]
fn a_new_worker_that_never_gets_ready_stops_the_rollout_and_the_old_ones_keep_serving() {
    let mut corral = Corral::start(
        &CONFIG
            .replace("{listen_timeout}", "10s")
            .replace("{mark}", "one"),
    );
    let old = corral.wait_online();
    let broken = CONFIG
        .replace("{mark}", "two")
        .replace("{listen_timeout}", "500ms")
        + "TW_NO_READY = \"1\"\n";
    corral.write_config(&broken);
    corral.signal(Signal::SIGHUP);
    let stopped = corral.wait_message("reload stopped; the old workers keep serving");
    assert!(
        stopped["reason"]
            .as_str()
            .is_some_and(|r| r.contains("was not ready within listen_timeout")),
        "{stopped}"
    );
    assert!(old.iter().all(|&pid| alive(pid)));
    // The refused config is not kept: an old worker that crashes now comes
    // back with the config that works.
    kill(Pid::from_raw(old[0]), Signal::SIGKILL).expect("kill an old worker");
    let back = corral.wait_for("the crashed worker replaced", |e| {
        e["message"] == "worker online" && !old.contains(&(e["pid"].as_i64().unwrap_or(0) as i32))
    });
    let back = back["pid"].as_i64().expect("pid");
    let served = (0..5000).find_map(|_| {
        let info = get_json(corral.listen_addr(), "/info");
        (info["pid"] == back).then_some(info)
    });
    assert_eq!(
        served.expect("the replacement serves")["env_TW_MARK"],
        "one"
    );
    for _ in 0..20 {
        let info = get_json(corral.listen_addr(), "/info");
        assert_eq!(info["env_TW_MARK"], "one");
    }
}
