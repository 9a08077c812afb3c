//! `corral run` under `systemd-socket-activate`, which binds the socket,
//! waits for the first connection and then execs its command with
//! `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` in a clean environment,
//! as systemd does for a socket unit (without systemd running). The
//! connection that activated corral is served, by a worker holding the
//! very socket `systemd-socket-activate` bound; corral binds nothing.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::helper::{Corral, corral_bin, get_json};

/// `systemd-socket-activate` from PATH (Debian: the `systemd` package).
fn socket_activate() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("systemd-socket-activate"))
        .find(|bin| bin.is_file())
}

/// A port free right now on `ip`, for `systemd-socket-activate` to bind.
fn free_port(ip: &str) -> u16 {
    let probe = TcpListener::bind((ip, 0)).expect("bind a probe");
    probe.local_addr().expect("probe address").port()
}

/// The inodes of every listening TCP socket on `port` (IPv4 and IPv6), as
/// /proc/net/tcp{,6} list them: the proof that nothing else bound it.
fn listening_sockets(port: u16) -> Vec<String> {
    let port = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is fields[1], st fields[3] (0A: LISTEN), inode fields[9].
            if fields.len() > 9 && fields[1].ends_with(&port) && fields[3] == "0A" {
                inodes.push(format!("socket:[{}]", fields[9]));
            }
        }
    }
    inodes
}

/// Starts `corral run` under `systemd-socket-activate --listen=listen`,
/// with one app of two workers on `app_listen`; returns it once the
/// activator listens, with the inode of the socket it bound.
fn activated(activator: PathBuf, listen: &str, port: u16, app_listen: &str) -> (Corral, String) {
    let config = format!(
        r#"
        [[apps]]
        name = "api"
        command = "{{worker}}"
        instances = 2
        listen = ["{app_listen}"]
        wait_ready = true
        "#
    );
    let mut cmd = Command::new(activator);
    cmd.arg(format!("--listen={listen}"))
        .arg("--fdname=http")
        // Its children get a clean environment, as under systemd; these
        // make corral log JSON events for the test to read.
        .args(["--setenv=CORRAL_LOG_FORMAT", "--setenv=CORRAL_LOG"])
        .arg(corral_bin())
        .args(["run", "ecosystem.toml"]);
    let mut corral = Corral::start_command(&config, &mut cmd, |_| {});
    corral.wait_plain("Listening on");
    let bound = listening_sockets(port);
    assert_eq!(bound.len(), 1, "the activator's socket alone: {bound:?}");
    (corral, bound[0].clone())
}

/// The first request, sent before corral runs: it is what starts it, and
/// a worker answers it from the queue of the passed socket.
fn first_request(addr: SocketAddr) -> Value {
    get_json(addr, "/info")
}

/// The worker that answered `info` got the passed socket: `LISTEN_FDS`
/// counts it (then its health socket), and its fd 3 is that socket.
fn assert_served_on(info: &Value, socket: &str, workers: &[i32]) {
    let pid = info["pid"].as_i64().expect("pid") as i32;
    assert!(
        workers.contains(&pid),
        "answered by {pid}, not a worker of {workers:?}"
    );
    assert_eq!(info["listen_pid"], pid.to_string(), "{info}");
    assert_eq!(info["listen_fds"], "2", "{info}");
    assert_eq!(info["listen_fdnames"], "http:health", "{info}");
    assert_eq!(info["fd_targets"]["3"], socket, "{info}");
}

/// What corral logged: it used the passed socket for `addr`, bound none.
fn assert_passed_not_bound(corral: &Corral, addr: &str) {
    let passed = corral.events("using a socket passed by systemd");
    assert_eq!(passed.len(), 1, "{passed:?}");
    assert_eq!(passed[0]["addr"], addr, "{passed:?}");
    assert_eq!(passed[0]["fd"], 3, "{passed:?}");
    let bound = corral.events("listening");
    assert!(
        bound.is_empty(),
        "the passed socket must not be bound again: {bound:?}"
    );
}

#[test]
fn corral_run_under_systemd_socket_activate_hands_the_passed_socket_to_its_workers() {
    let Some(activator) = socket_activate() else {
        return eprintln!("skipped: systemd-socket-activate is not installed (Debian: systemd)");
    };
    let port = free_port("127.0.0.1");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (mut corral, socket) = activated(activator, &addr.to_string(), port, &addr.to_string());
    let first = first_request(addr);
    let workers = corral.wait_online();
    assert_eq!(workers.len(), 2);
    assert_served_on(&first, &socket, &workers);
    for _ in 0..20 {
        assert_served_on(&get_json(addr, "/info"), &socket, &workers);
    }
    assert_passed_not_bound(&corral, &addr.to_string());
    assert_eq!(
        listening_sockets(port),
        [socket],
        "nothing else listens on {port}"
    );
    corral.signal(Signal::SIGTERM);
    assert!(corral.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn a_dual_stack_socket_like_listen_stream_port_serves_an_app_on_0_0_0_0() {
    let Some(activator) = socket_activate() else {
        return eprintln!("skipped: systemd-socket-activate is not installed (Debian: systemd)");
    };
    if let Err(err) = TcpListener::bind("[::1]:0") {
        return eprintln!("skipped: no IPv6 on this machine ({err})");
    }
    // `--listen=PORT` binds `[::]:PORT`, dual-stack: what `ListenStream=PORT` does.
    let port = free_port("::");
    let (mut corral, socket) = activated(
        activator,
        &port.to_string(),
        port,
        &format!("0.0.0.0:{port}"),
    );
    let ipv4 = SocketAddr::from(([127, 0, 0, 1], port));
    let first = first_request(ipv4);
    let workers = corral.wait_online();
    assert_served_on(&first, &socket, &workers);
    let ipv6: SocketAddr = format!("[::1]:{port}").parse().expect("IPv6 address");
    assert_served_on(&get_json(ipv6, "/info"), &socket, &workers);
    assert_passed_not_bound(&corral, &format!("[::]:{port}"));
    assert_eq!(
        corral
            .events("serving the address with the wildcard socket systemd passed")
            .len(),
        1
    );
}
