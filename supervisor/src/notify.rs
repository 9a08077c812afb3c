//! The supervisor's end of the sd_notify protocol: one datagram socket that
//! every worker sends `READY=1`, `STATUS=...`, `WATCHDOG=1` and `STOPPING=1`
//! to, with the sender identified by the kernel (SCM_CREDENTIALS), never by
//! what the message claims.
//!
//! The socket lives in the abstract namespace, so workers that dropped to
//! another user can reach it without a filesystem path to share, and nothing
//! is left on disk. Only pids of known workers (or of their process groups)
//! are listened to.

use std::io::{self, IoSliceMut};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::unistd::Pid;
use tokio::io::Interest;

use crate::reaper::ChildTable;

/// One sd_notify message from a worker, reduced to what the supervisor acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// `READY=1`: the worker accepts connections.
    Ready,
    /// `STATUS=...`: a one-line state description for operators.
    Status(String),
    /// `WATCHDOG=1`: a liveness heartbeat.
    Watchdog,
    /// `STOPPING=1`: the worker began shutting down by itself.
    Stopping,
}

/// Parses a datagram (newline-separated `KEY=VALUE` pairs) into the
/// notifications the supervisor understands; unknown keys are ignored, as
/// systemd does.
pub fn parse(datagram: &str) -> Vec<Notification> {
    datagram
        .lines()
        .filter_map(|line| match line.split_once('=')? {
            ("READY", "1") => Some(Notification::Ready),
            ("STATUS", text) => Some(Notification::Status(text.to_owned())),
            ("WATCHDOG", "1") => Some(Notification::Watchdog),
            ("STOPPING", "1") => Some(Notification::Stopping),
            _ => None,
        })
        .collect()
}

/// The bound notify socket and the value of `NOTIFY_SOCKET` that reaches it.
pub struct NotifyListener {
    socket: tokio::net::UnixDatagram,
    /// What workers get as `NOTIFY_SOCKET` (`@` marks the abstract namespace).
    pub address: String,
}

impl NotifyListener {
    /// Binds a socket unique to this supervisor process. The name carries
    /// random bytes besides the pid: two supervisors in different pid
    /// namespaces sharing a network namespace may both be pid 1, and no
    /// other local user can take the name first.
    pub fn bind() -> io::Result<Self> {
        let mut nonce = [0u8; 8];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut nonce)?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("corral/{}/{nonce}/notify", std::process::id());
        let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)?;
        setsockopt(&socket, sockopt::PassCred, &true)?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket: tokio::net::UnixDatagram::from_std(socket)?,
            address: format!("@{name}"),
        })
    }

    /// Receives datagrams forever and routes them by sender pid.
    pub async fn serve(self, table: ChildTable) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = self
                .socket
                .async_io(Interest::READABLE, || receive(&self.socket, &mut buf))
                .await;
            match received {
                Ok(Datagram::TooLong(pid)) => tracing::warn!(
                    pid = pid.as_raw(),
                    "notify message longer than {MAX_DATAGRAM} bytes ignored, as systemd does"
                ),
                Ok(Datagram::Whole(pid, len)) => {
                    let text = String::from_utf8_lossy(&buf[..len]);
                    for message in parse(&text) {
                        if !table.route_notification(pid, message) {
                            tracing::debug!(
                                pid = pid.as_raw(),
                                "notify message from an unknown process ignored"
                            );
                        }
                    }
                }
                Err(err) => tracing::warn!(%err, "cannot read the notify socket"),
            }
        }
    }
}

/// The longest notify message read, systemd's limit (`NOTIFY_BUFFER_MAX`).
const MAX_DATAGRAM: usize = 4096;

/// One datagram as received, with the sender the kernel vouches for.
#[derive(Debug, PartialEq, Eq)]
enum Datagram {
    /// The first `len` bytes of the buffer hold it.
    Whole(Pid, usize),
    /// It did not fit the buffer: read in part, it could lose or cut a
    /// message, so it is ignored whole, as systemd ignores it.
    TooLong(Pid),
}

fn receive(socket: &tokio::net::UnixDatagram, buf: &mut [u8]) -> io::Result<Datagram> {
    let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let pid = msg.cmsgs()?.find_map(|c| match c {
        ControlMessageOwned::ScmCredentials(cred) => Some(Pid::from_raw(cred.pid())),
        _ => None,
    });
    let pid = pid.ok_or_else(|| io::Error::other("notify message without credentials"))?;
    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
        Ok(Datagram::TooLong(pid))
    } else {
        Ok(Datagram::Whole(pid, msg.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_the_supervisor_acts_on() {
        let got = parse("READY=1\nSTATUS=serving 3 requests\nWATCHDOG=1\nSTOPPING=1\nMAINPID=7\n");
        assert_eq!(
            got,
            vec![
                Notification::Ready,
                Notification::Status("serving 3 requests".into()),
                Notification::Watchdog,
                Notification::Stopping,
            ]
        );
    }

    #[test]
    fn ignores_values_other_than_one() {
        assert!(parse("READY=0\nWATCHDOG=trigger").is_empty());
    }

    /// Found while writing the notify fuzz tests: a datagram over 4096 bytes
    /// was read cut short, so a `READY=1` after a long `STATUS=` was lost
    /// without a word.
    #[tokio::test]
    async fn fuzz_notify_regression_a_datagram_too_long_is_ignored_whole() {
        let (sender, receiver) = tokio::net::UnixDatagram::pair().expect("socketpair");
        setsockopt(&receiver, sockopt::PassCred, &true).expect("SO_PASSCRED");
        let me = Pid::from_raw(std::process::id() as i32);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        for (len, expected) in [
            (MAX_DATAGRAM, Datagram::Whole(me, MAX_DATAGRAM)),
            (MAX_DATAGRAM + 1, Datagram::TooLong(me)),
        ] {
            let status = "x".repeat(len - "READY=1\nSTATUS=".len());
            sender
                .send(format!("READY=1\nSTATUS={status}").as_bytes())
                .await
                .expect("send");
            let got = receiver
                .async_io(Interest::READABLE, || receive(&receiver, &mut buf))
                .await
                .expect("receive");
            assert_eq!(got, expected, "{len} bytes");
        }
    }

    /// Fuzzing: any datagram, read as the server reads it, parses without
    /// panicking; the known messages are found, in order, among any lines
    /// that are not messages. `PROPTEST_CASES=100000 cargo test -p corral
    /// fuzz_` runs longer.
    mod fuzz {
        use proptest::prelude::*;

        use super::super::{Notification, parse};

        /// A line that is a message, with the notification it means.
        fn message() -> impl Strategy<Value = (String, Notification)> {
            prop_oneof![
                Just(("READY=1".to_owned(), Notification::Ready)),
                Just(("WATCHDOG=1".to_owned(), Notification::Watchdog)),
                Just(("STOPPING=1".to_owned(), Notification::Stopping)),
                "[^\\n\\r]{0,300}".prop_map(|s| (format!("STATUS={s}"), Notification::Status(s))),
            ]
        }

        /// A line that is no message: garbage, other keys, near misses.
        fn noise() -> impl Strategy<Value = String> {
            let near = prop::sample::select(vec![
                "READY=0",
                "READY=",
                "READY",
                "READY=1 ",
                " READY=1",
                "ready=1",
                "READY==1",
                "WATCHDOG=trigger",
                "STOPPING=2",
                "MAINPID=7",
                "=",
                "==",
                "",
                "STATUS",
                "\u{0}READY=1",
                "READY=1\u{0}",
                "\u{feff}READY=1",
            ])
            .prop_map(str::to_owned);
            let garbage = "[^\\n]{0,100}".prop_filter("not a message", |line: &String| {
                let line = line.strip_suffix('\r').unwrap_or(line);
                !(["READY=1", "WATCHDOG=1", "STOPPING=1"].contains(&line)
                    || line.starts_with("STATUS="))
            });
            prop_oneof![near, garbage]
        }

        proptest! {
            #[test]
            fn fuzz_notify_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..5000)) {
                let text = String::from_utf8_lossy(&bytes);
                let _ = parse(&text);
            }

            #[test]
            fn fuzz_notify_messages_among_noise(
                lines in prop::collection::vec(prop_oneof![
                    message().prop_map(|(line, n)| (line, Some(n))),
                    noise().prop_map(|line| (line, None)),
                ], 0..20),
                crlf in any::<bool>(),
            ) {
                let separator = if crlf { "\r\n" } else { "\n" };
                let text: Vec<&str> = lines.iter().map(|(line, _)| line.as_str()).collect();
                let expected: Vec<Notification> = lines.iter().filter_map(|(_, n)| n.clone()).collect();
                prop_assert_eq!(parse(&text.join(separator)), expected);
            }

            #[test]
            fn fuzz_notify_a_huge_status_is_kept_whole(
                status in ("[^\\n\\r]{1,20}", 200usize..1000).prop_map(|(s, n)| s.repeat(n)),
            ) {
                let got = parse(&format!("READY=1\nSTATUS={status}\nWATCHDOG=1"));
                prop_assert_eq!(got, vec![
                    Notification::Ready,
                    Notification::Status(status),
                    Notification::Watchdog,
                ]);
            }
        }
    }
}
