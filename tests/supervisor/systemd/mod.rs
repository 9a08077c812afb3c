//! The supervisor under systemd, with systemd played by the tools it ships
//! for that (a fake notify socket, `systemd-socket-activate`), never by
//! systemd itself: sd_notify towards systemd around start, reloads and
//! stop (never leaked to workers), and socket activation (passed sockets
//! handed on to the workers, not bound again).

mod notify;
mod reload;
mod socket_activation;
