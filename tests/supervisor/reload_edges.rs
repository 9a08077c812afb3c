//! Reloads in awkward moments: one reload superseding another while a
//! worker crashes, scaling up, a refused file that needed new sockets,
//! shutdown while an old worker or a removed app still drains, an app
//! removed and added back while its old worker drains.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helper::{Corral, FakeSystemd, Load, alive, get, get_json, pid_of};

const APP: &str = r#"
[[apps]]
name = "api"
command = "{worker}"
instances = {instances}
listen = ["127.0.0.1:0"]
wait_ready = true
listen_timeout = "10s"
[apps.env]
TW_MARK = "{mark}"
"#;

fn app(instances: usize, mark: &str, extra_env: &str) -> String {
    APP.replace("{instances}", &instances.to_string())
        .replace("{mark}", mark)
        + extra_env
}

#[test]
fn a_reload_superseding_a_reload_leaves_no_slot_empty_even_after_a_crash() {
    let mut corral = Corral::start(&app(2, "one", ""));
    corral.wait_online();
    let slot0 = corral
        .events("worker online")
        .into_iter()
        .find(|e| e["instance"] == 0)
        .map(|e| pid_of(&e))
        .expect("slot 0");
    corral.write_config(&app(2, "two", "TW_READY_DELAY_MS = \"3000\"\n"));
    corral.signal(Signal::SIGHUP);
    corral.wait_for("the first replacement spawned", |e| {
        e["message"] == "worker spawned" && e["instance"] == 0
    });
    kill(Pid::from_raw(slot0), Signal::SIGKILL).expect("kill slot 0");
    corral.wait_for("slot 0 exited", |e| {
        e["message"] == "worker exited" && pid_of(e) == slot0
    });
    corral.write_config(&app(2, "three", ""));
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    let addr = corral.listen_addr();
    let mut serving = std::collections::BTreeSet::new();
    for _ in 0..5000 {
        let info = get_json(addr, "/info");
        if info["env_TW_MARK"] == "three" {
            serving.insert(
                info["corral_instance"]
                    .as_str()
                    .expect("instance")
                    .to_owned(),
            );
        }
        if serving.len() == 2 {
            break;
        }
    }
    assert_eq!(
        serving.len(),
        2,
        "both slots serve the last config: {serving:?}"
    );
}

#[test]
fn scaling_up_by_a_reload_starts_each_new_worker_once() {
    let mut corral = Corral::start(&app(1, "one", ""));
    corral.wait_online();
    corral.write_config(&app(3, "one", ""));
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    let spawned = corral.events("worker spawned").len();
    assert_eq!(
        spawned,
        1 + 1 + 2,
        "the first worker, its replacement, two new slots"
    );
}

#[test]
fn a_refused_reload_closes_the_sockets_it_bound() {
    let mut corral = Corral::start(&app(1, "one", ""));
    corral.wait_online();
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let free = TcpListener::bind("127.0.0.1:0").expect("bind");
    let fresh = free.local_addr().expect("addr");
    drop(free);
    let moved = app(1, "one", "").replace("127.0.0.1:0", &fresh.to_string());
    let clash = format!(
        "{moved}\n[[apps]]\nname = \"b\"\ncommand = \"{{worker}}\"\nlisten = [\"{}\"]\n",
        busy.local_addr().expect("addr")
    );
    corral.write_config(&clash);
    corral.signal(Signal::SIGHUP);
    corral.wait_for("reload refused", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("reload refused"))
    });
    assert!(
        get(fresh, "/").is_err(),
        "{fresh} was bound for the refused config and must be closed again"
    );
    assert_eq!(
        get(corral.listen_addr(), "/").expect("still serving").0,
        200
    );
}

#[test]
fn shutdown_waits_for_a_removed_app_to_drain() {
    let both = format!(
        "{}\n[[apps]]\nname = \"old\"\ncommand = \"{{worker}}\"\nlisten = [\"127.0.0.1:0\"]\nwait_ready = true\nkill_timeout = \"10s\"\n",
        app(1, "one", "")
    );
    let mut corral = Corral::start(&both);
    corral.wait_online();
    let listening = corral.events("listening");
    let old_addr = listening[1]["bound"]
        .as_str()
        .expect("bound")
        .parse()
        .expect("addr");
    let slow = std::thread::spawn(move || get(old_addr, "/slow?ms=3000"));
    let log = corral.dir().join("logs/old-out.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("slow request started")
    {
        assert!(Instant::now() < deadline, "the slow request never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    corral.write_config(&app(1, "one", ""));
    corral.signal(Signal::SIGHUP);
    corral.wait_for("old removed", |e| {
        e["message"] == "app removed from the config; stopping it"
    });
    corral.signal(Signal::SIGTERM);
    let (status, body) = slow
        .join()
        .expect("client")
        .expect("the removed app's request completes");
    assert_eq!(status, 200, "{body}");
    assert!(corral.wait_exit(Duration::from_secs(15)).success());
}

#[test]
fn a_draining_worker_gets_kill_signal_once_even_when_shutdown_follows() {
    let trap = r#"
[[apps]]
name = "sh"
command = "sh"
args = ["-c", "trap 'echo got TERM $$; sleep 1; exit 0' TERM; echo trapped $$; while :; do sleep 0.05; done"]
kill_timeout = "5s"
"#;
    let mut corral = Corral::start(trap);
    let old = corral.wait_online()[0];
    // The shell must have installed its trap before it is signalled.
    let log = corral.dir().join("logs/sh-out.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(&format!("trapped {old}"))
    {
        assert!(
            Instant::now() < deadline,
            "the worker never installed its trap"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    corral.signal(Signal::SIGHUP);
    corral.wait_for("the replacement online", |e| {
        e["message"] == "worker online" && pid_of(e) != old
    });
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
    let out = std::fs::read_to_string(corral.dir().join("logs/sh-out.log")).expect("out log");
    assert_eq!(out.matches(&format!("got TERM {old}")).count(), 1, "{out}");
}

#[test]
fn an_app_removed_and_added_back_while_it_drains_serves_again_on_the_same_port() {
    // A port of the kernel's choosing, written into the config, so that
    // "the same port" means the same number across the two apps.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let api = format!(
        "[[apps]]\nname = \"api\"\ncommand = \"{{worker}}\"\nlisten = [\"{addr}\"]\n\
         wait_ready = true\nkill_timeout = \"10s\"\n[apps.env]\nTW_SLOW_DRAIN_MS = \"2000\"\n"
    );
    let other = "[[apps]]\nname = \"other\"\ncommand = \"{worker}\"\nwait_ready = true\n\
                 restart_delay = \"300ms\"\n";
    let both = format!("{api}{other}");
    let systemd = FakeSystemd::start();
    let mut corral = Corral::start_with(&both, |cmd| {
        cmd.env("NOTIFY_SOCKET", systemd.path());
    });
    corral.wait_online();
    assert_eq!(corral.listen_addr(), addr);
    let first = last_online(&corral, "api");
    let load = Load::start(addr, 2);

    corral.write_config(other);
    corral.signal(Signal::SIGHUP);
    corral.wait_message("app removed from the config; stopping it");
    corral.wait_for("the removed app's worker told to stop", |e| {
        e["message"] == "stopping worker" && pid_of(e) == first
    });
    corral.write_config(&both);
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reusing the socket of an app that is still draining");
    let second = corral.wait_for("the re-added app's worker online", |e| {
        e["message"] == "worker online" && e["app"] == "api"
    });
    let second = pid_of(&second);
    assert!(alive(first), "added back while the old worker drains");
    corral.wait_for("the old worker stopped", |e| {
        e["message"] == "worker stopped" && pid_of(e) == first
    });
    corral.wait_for("the removed app's manager ended", |e| {
        e["message"] == "app stopped" && e["app"] == "api"
    });
    for _ in 0..20 {
        assert_eq!(get_json(addr, "/")["pid"], second, "served on {addr}");
    }
    let report = load.stop();
    assert!(report.ok > 0);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let refused = corral.events_matching(|m| m.starts_with("reload refused"));
    assert!(refused.is_empty(), "{refused:?}");

    // The old manager's end left the new one's state alone.
    assert_systemd_still_sees("api online 1/1", &mut corral, &systemd);
}

/// The pid of the last worker of `app` that came online.
fn last_online(corral: &Corral, app: &str) -> i32 {
    let events = corral.events("worker online");
    let event = events.iter().rev().find(|e| e["app"] == app);
    pid_of(event.expect("a worker online"))
}

/// Restarts the app "other" (its worker is killed; it waits out its
/// `restart_delay`) and checks that every status systemd is told meanwhile
/// still shows `status`, an app that had no reason to change.
fn assert_systemd_still_sees(status: &str, corral: &mut Corral, systemd: &FakeSystemd) {
    // Each SIGHUP also rolled "other" over; its worker is the last one
    // online once the rollout begun by the second SIGHUP completed.
    corral.wait_until("the other app's second rollout done", |events| {
        let of_other =
            |e: &serde_json::Value, message: &str| e["message"] == message && e["app"] == "other";
        let mut started = 0;
        events.iter().any(|e| {
            started += usize::from(of_other(e, "reload started"));
            started == 2 && of_other(e, "reload complete")
        })
    });
    let other = last_online(corral, "other");
    systemd.forget();
    kill(Pid::from_raw(other), Signal::SIGKILL).expect("kill the other app's worker");
    let told = systemd.until("the other app launching", |line| {
        line.starts_with("STATUS=") && line.contains("other launching")
    });
    let statuses = told.iter().flat_map(|m| m.lines());
    for line in statuses.filter(|l| l.starts_with("STATUS=")) {
        assert!(line.contains(status), "{status} is missing from {line:?}");
    }
}

/// The accept-queue length the kernel has for the listening socket on
/// `addr`, as `ss` shows it (Send-Q of a listener); `None` without `ss`.
fn backlog(addr: std::net::SocketAddr) -> Option<u32> {
    let filter = format!("sport = :{}", addr.port());
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &filter])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn a_refused_config_changes_no_live_socket() {
    let with_backlog = |n: u32| {
        app(1, "one", "").replace(
            "listen = [\"127.0.0.1:0\"]",
            &format!("listen = [\"127.0.0.1:0\"]\nlisten_backlog = {n}"),
        )
    };
    let mut corral = Corral::start(&with_backlog(100));
    corral.wait_online();
    let addr = corral.listen_addr();
    let Some(before) = backlog(addr) else {
        eprintln!("skipped: `ss` is not installed");
        return;
    };
    assert_eq!(before, 100);
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = format!(
        "{}\n[[apps]]\nname = \"b\"\ncommand = \"{{worker}}\"\nlisten = [\"{}\"]\n",
        with_backlog(200),
        busy.local_addr().expect("addr")
    );
    corral.write_config(&refused);
    corral.signal(Signal::SIGHUP);
    corral.wait_for("reload refused", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("reload refused"))
    });
    assert_eq!(
        backlog(addr),
        Some(100),
        "the refused config resized the queue"
    );
    corral.write_config(&with_backlog(200));
    corral.signal(Signal::SIGHUP);
    corral.wait_message("reload complete");
    assert_eq!(backlog(addr), Some(200), "an accepted config resizes it");
}
