//! Cluster mode: N workers share one socket handed over by the
//! socket-activation protocol, whatever language they are written in.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::Value;

use crate::helper::{Corral, get_json};

/// Collects `/info` from every worker in `pids` through the shared port
/// (the kernel decides who answers, so ask until each has).
fn info_of_each(addr: SocketAddr, pids: &[i32]) -> BTreeMap<i64, Value> {
    let mut seen = BTreeMap::new();
    for _ in 0..5000 {
        let info = get_json(addr, "/info");
        seen.insert(info["pid"].as_i64().expect("pid"), info);
        if pids.iter().all(|p| seen.contains_key(&i64::from(*p))) {
            return seen;
        }
    }
    panic!(
        "only {:?} of {pids:?} answered on the shared port",
        seen.keys().collect::<Vec<_>>()
    );
}

#[test]
fn every_worker_serves_the_shared_port_with_its_own_listen_pid_and_only_its_sockets() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        "#,
    );
    let pids = corral.wait_online();
    assert_eq!(pids.len(), 2);
    let addr = corral.listen_addr();
    let infos = info_of_each(addr, &pids);
    let mut instances = Vec::new();
    for (pid, info) in infos {
        assert_eq!(
            info["listen_pid"],
            pid.to_string(),
            "LISTEN_PID must be the worker's own pid"
        );
        assert_eq!(info["listen_fds"], "2");
        assert_eq!(info["listen_fdnames"], "http:health");
        assert_eq!(info["pgid"], pid, "a worker leads its own process group");
        assert_eq!(info["ppid"], corral.pid().as_raw());
        assert_eq!(info["corral_app"], "api");
        assert_eq!(info["corral_instances"], "2", "the instance count: {info}");
        assert!(
            info["notify_socket"]
                .as_str()
                .is_some_and(|s| s.starts_with("@corral/"))
        );
        let own: Vec<i64> = [&info["request_fd"], &info["notify_fd"]]
            .iter()
            .filter_map(|v| v.as_i64())
            .collect();
        let fds: Vec<i64> = info["fds"]
            .as_array()
            .expect("fds")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let inherited: Vec<i64> = fds.into_iter().filter(|fd| !own.contains(fd)).collect();
        assert_eq!(
            inherited,
            vec![0, 1, 2, 3, 4],
            "only stdio, the shared socket and the health socket: {info}"
        );
        let targets = &info["fd_targets"];
        assert_eq!(targets["0"], "/dev/null");
        assert!(
            targets["3"]
                .as_str()
                .is_some_and(|t| t.starts_with("socket:"))
        );
        assert!(
            targets["4"]
                .as_str()
                .is_some_and(|t| t.starts_with("socket:"))
        );
        instances.push(
            info["corral_instance"]
                .as_str()
                .expect("instance")
                .to_owned(),
        );
    }
    instances.sort();
    assert_eq!(instances, vec!["0", "1"]);
}

#[test]
fn a_python_worker_using_fd_3_runs_in_cluster_mode() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "py"
        command = "python3"
        args = ["{py_worker}"]
        instances = 2
        listen = ["127.0.0.1:0"]
        wait_ready = true
        listen_timeout = "10s"
        "#,
    );
    let pids = corral.wait_online();
    let addr = corral.listen_addr();
    for (pid, info) in info_of_each(addr, &pids) {
        assert_eq!(info["listen_pid"], pid.to_string());
        let fds: Vec<i64> = info["fds"]
            .as_array()
            .expect("fds")
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        assert_eq!(fds[..5], [0, 1, 2, 3, 4], "{info}");
        // Beyond its two sockets, a threaded server holds only connections.
        for fd in &fds[5..] {
            let target = info["fd_targets"][fd.to_string()]
                .as_str()
                .unwrap_or("socket:");
            assert!(
                target.starts_with("socket:"),
                "fd {fd} leaked into the worker: {info}"
            );
        }
    }
    assert_eq!(get_json(addr, "/")["lang"], "python");
}

#[test]
fn instances_max_runs_one_worker_per_usable_cpu() {
    let mut corral = Corral::start(
        r#"
        [[apps]]
        name = "api"
        command = "{worker}"
        instances = "max"
        wait_ready = true
        "#,
    );
    let cpus = std::thread::available_parallelism().expect("cpus").get();
    assert_eq!(corral.wait_online().len(), cpus);
}
