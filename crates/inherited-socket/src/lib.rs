//! Whether an fd handed over by `LISTEN_FDS` is a listening TCP socket,
//! found out before anything takes ownership of it. Shared by corral (the
//! sockets systemd passes it, before any worker sees them) and the app
//! (the sockets it inherits from corral or systemd).
//!
//! Owning an fd closes it on drop. Taking an fd that is not what the
//! protocol promised (a count too high, a parent that passed a file, a
//! socket unit with `ListenDatagram=`) once closed an fd the app had
//! opened itself, the async runtime's epoll, and the worker panicked far
//! from the cause. Here the fd is only borrowed, looked at with fstat(2)
//! and getsockopt(2), and refused with one sentence that says what it is.

use std::os::fd::{BorrowedFd, RawFd};

use rustix::fs::FileType;
use rustix::net::sockopt::{socket_acceptconn, socket_domain, socket_type};
use rustix::net::{AddressFamily, SocketType};

/// What fstat(2) and getsockopt(2) say about one fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// No open fd has this number.
    Closed,
    /// An open fd of this type, which is not a socket.
    NotSocket(FileType),
    /// A socket.
    Socket {
        /// `SO_DOMAIN`.
        family: AddressFamily,
        /// `SO_TYPE`.
        kind: SocketType,
        /// `SO_ACCEPTCONN`: listen(2) was called on it.
        listening: bool,
    },
}

/// Why no server can listen on what was `seen`, as the end of a
/// sentence that starts with the fd; `None` for a listening TCP socket.
pub fn unfit(seen: Seen) -> Option<&'static str> {
    let inet = [AddressFamily::INET, AddressFamily::INET6];
    match seen {
        Seen::Closed => Some("is not open"),
        Seen::NotSocket(FileType::RegularFile) => Some("is a regular file, not a socket"),
        Seen::NotSocket(FileType::Directory) => Some("is a directory, not a socket"),
        Seen::NotSocket(FileType::Fifo) => Some("is a pipe, not a socket"),
        Seen::NotSocket(FileType::CharacterDevice | FileType::BlockDevice) => {
            Some("is a device, not a socket")
        }
        Seen::NotSocket(_) => Some("is not a socket"),
        Seen::Socket { family, .. } if !inet.contains(&family) => {
            Some("is a socket, but not an IPv4 or IPv6 one")
        }
        Seen::Socket { kind, .. } if kind == SocketType::DGRAM => {
            Some("is a UDP socket, not a TCP one")
        }
        Seen::Socket { kind, .. } if kind != SocketType::STREAM => {
            Some("is a socket, but not a stream (TCP) one")
        }
        Seen::Socket {
            listening: false, ..
        } => Some("is a TCP socket that is not listening"),
        Seen::Socket { .. } => None,
    }
}

/// Looks at `fd` without taking it: nothing here can close it.
pub fn look(fd: RawFd) -> std::io::Result<Seen> {
    // SAFETY: F_GETFD only reads the flags of the fd with this number and
    // touches no memory of ours; a number with no open fd makes it fail
    // with EBADF, its only error.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Ok(Seen::Closed);
    }
    // SAFETY: the fd is open (just checked) and the borrow lasts three
    // syscalls that touch no memory of ours. Callers pass fds of
    // `LISTEN_FDS`, owned by nothing yet, before any thread could close
    // them; an fd the process opened itself (the runtime's epoll, when
    // `LISTEN_FDS` counts too many) stays open for the process's life.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let file_type = FileType::from_raw_mode(rustix::fs::fstat(fd)?.st_mode);
    if file_type != FileType::Socket {
        return Ok(Seen::NotSocket(file_type));
    }
    Ok(Seen::Socket {
        family: socket_domain(fd)?,
        kind: socket_type(fd)?,
        listening: socket_acceptconn(fd)?,
    })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn only_a_listening_tcp_socket_is_fit() {
        let tcp = |family, listening| Seen::Socket {
            family,
            kind: SocketType::STREAM,
            listening,
        };
        assert_eq!(unfit(tcp(AddressFamily::INET, true)), None);
        assert_eq!(unfit(tcp(AddressFamily::INET6, true)), None);
        assert_eq!(
            unfit(tcp(AddressFamily::INET, false)),
            Some("is a TCP socket that is not listening")
        );
        assert_eq!(
            unfit(tcp(AddressFamily::UNIX, true)),
            Some("is a socket, but not an IPv4 or IPv6 one")
        );
        let udp = Seen::Socket {
            family: AddressFamily::INET6,
            kind: SocketType::DGRAM,
            listening: false,
        };
        assert_eq!(unfit(udp), Some("is a UDP socket, not a TCP one"));
        assert_eq!(unfit(Seen::Closed), Some("is not open"));
        assert_eq!(
            unfit(Seen::NotSocket(FileType::RegularFile)),
            Some("is a regular file, not a socket")
        );
        assert_eq!(
            unfit(Seen::NotSocket(FileType::Unknown)),
            Some("is not a socket")
        );
    }

    #[test]
    fn looking_tells_files_sockets_and_listeners_apart() {
        let file = tempfile::tempfile().unwrap();
        let seen = look(file.as_raw_fd()).unwrap();
        assert_eq!(seen, Seen::NotSocket(FileType::RegularFile));

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            unfit(look(udp.as_raw_fd()).unwrap()),
            Some("is a UDP socket, not a TCP one")
        );

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(unfit(look(listener.as_raw_fd()).unwrap()), None);
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(
            unfit(look(client.as_raw_fd()).unwrap()),
            Some("is a TCP socket that is not listening")
        );
    }
}
