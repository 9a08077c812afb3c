//! Process hygiene: orphans are reaped, a dead worker's children die with
//! it, and `user`/`group` are dropped to before the command runs.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, get_json, wait_gone};

#[test]
fn an_orphaned_grandchild_is_reaped_by_the_supervisor() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        wait_ready = true
        [apps.env]
        TW_ORPHAN = "1"
        "#,
    );
    corral.wait_online();
    let orphan = get_json(corral.listen_addr(), "/info")["orphan_pid"]
        .as_i64()
        .expect("orphan pid");
    let reaped =
        |e: &serde_json::Value| e["message"] == "reaped a descendant" && e["pid"] == orphan;
    // It may have been reaped before the worker was online: look at every event.
    if !corral.events("reaped a descendant").iter().any(reaped) {
        corral.wait_for("the orphan reaped", reaped);
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{orphan}")).exists(),
        "the orphan must not linger as a zombie"
    );
}

#[test]
fn a_crashed_workers_children_are_killed_with_it() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        listen = ["127.0.0.1:0"]
        wait_ready = true
        [apps.env]
        TW_SPAWN_CHILD = "1"
        "#,
    );
    corral.wait_online();
    let info = get_json(corral.listen_addr(), "/info");
    let worker = info["pid"].as_i64().expect("pid") as i32;
    let child = info["child_pid"].as_i64().expect("child pid") as i32;
    kill(Pid::from_raw(worker), Signal::SIGKILL).expect("kill worker");
    corral.wait_message("worker exited");
    assert!(
        wait_gone(&[child], Duration::from_secs(1)).is_empty(),
        "the worker's child outlived it"
    );
}

/// `/info` of a worker whose app adds `identity` (a `user =` or `group =`
/// line); `None`, after saying so, when the tests do not run as root.
fn info_of_worker_with(identity: &str) -> Option<serde_json::Value> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: dropping privileges needs root");
        return None;
    }
    let mut corral = Corral::start(&format!(
        "[[apps]]\nname = \"api\"\ncommand = \"{{worker}}\"\nlisten = [\"127.0.0.1:0\"]\nwait_ready = true\n{identity}\n"
    ));
    corral.wait_online();
    Some(get_json(corral.listen_addr(), "/info"))
}

#[test]
fn a_worker_runs_as_the_configured_user_with_only_its_groups() {
    let Some(info) = info_of_worker_with(r#"user = "nobody""#) else {
        return;
    };
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("passwd")
        .expect("nobody exists");
    assert_eq!(info["uid"], nobody.uid.as_raw());
    assert_eq!(info["gid"], nobody.gid.as_raw());
    assert_eq!(
        info["groups"],
        nobody.gid.as_raw().to_string(),
        "root's groups are dropped"
    );
}

#[test]
fn a_worker_can_drop_to_a_group_alone() {
    let Some(info) = info_of_worker_with(r#"group = "nogroup""#) else {
        return;
    };
    let nogroup = nix::unistd::Group::from_name("nogroup")
        .expect("group db")
        .expect("nogroup exists");
    assert_eq!(info["uid"], 0);
    assert_eq!(info["gid"], nogroup.gid.as_raw());
    assert_eq!(info["groups"], nogroup.gid.as_raw().to_string());
}

#[test]
fn an_unknown_user_is_reported_in_the_error_log_and_the_app_errors() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        user = "no-such-user-here"
        max_restarts = 1
        "#,
    );
    corral.wait_message("app errored");
    let log = std::fs::read_to_string(corral.dir().join("logs/api-error.log")).expect("error log");
    assert!(
        log.contains("cannot drop privileges: no such user `no-such-user-here`"),
        "{log}"
    );
}
