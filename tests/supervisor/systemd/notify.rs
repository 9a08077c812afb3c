//! The supervisor under systemd: sd_notify towards systemd (never leaked to
//! workers) and socket activation (passed sockets handed on, not rebound).

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helper::{Corral, FakeSystemd, corral_bin, get_json};

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

/// Runs corral as systemd would, with `listener` passed as fd 3 and one app
/// listening on `app_listen`; checks the passed socket was used, not rebound.
fn socket_activated(listener: TcpListener, app_listen: &str) -> Corral {
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("sh");
    // `exec` keeps the shell's pid, so $$ is the pid corral runs as: what
    // systemd sets LISTEN_PID to.
    cmd.arg("-c").arg(format!(
        "LISTEN_PID=$$ LISTEN_FDS=1 exec {} run ecosystem.toml",
        corral_bin().display()
    ));
    // SAFETY: dup2 and fcntl are async-signal-safe; they move the test's
    // socket to fd 3 in the child, where sd_listen_fds(3) expects it.
    unsafe {
        cmd.pre_exec(move || {
            let moved = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
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
    let mut corral = Corral::start_command(&config, &mut cmd, |_| {});
    corral.wait_online();
    drop(listener);
    assert_eq!(corral.events("using a socket passed by systemd").len(), 1);
    assert!(
        corral.events("listening").is_empty(),
        "the passed socket must not be bound again"
    );
    corral
}

#[test]
fn sockets_passed_by_systemd_are_handed_on_instead_of_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let _corral = socket_activated(listener, &addr.to_string());
    assert_eq!(get_json(addr, "/info")["listen_fds"], "2");
}

#[test]
fn a_passed_dual_stack_wildcard_socket_serves_an_app_listening_on_0_0_0_0() {
    // What `ListenStream=PORT` gives: `[::]:PORT`, accepting IPv4 too.
    let listener = match TcpListener::bind("[::]:0") {
        Ok(listener) => listener,
        Err(err) => return eprintln!("skipped: no IPv6 on this machine ({err})"),
    };
    let port = listener.local_addr().expect("addr").port();
    let _corral = socket_activated(listener, &format!("0.0.0.0:{port}"));
    let ipv4 = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(get_json(ipv4, "/info")["listen_fds"], "2");
}
