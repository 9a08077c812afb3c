//! What /proc says of the supervisor process and of its network namespace
//! when `/metrics` is scraped, and the metrics it makes. Each reading is
//! `None` when its file cannot be read (a /proc mounted with `hidepid`, a
//! kernel without the counter), and its metric is then left out rather than
//! reported as 0.

use procfs::process::Process;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::saturating;

/// The readings, taken at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Host {
    /// The supervisor's resident set size, in bytes.
    pub rss_bytes: Option<u64>,
    /// The supervisor's open file descriptors.
    pub open_fds: Option<u64>,
    /// `TcpExt: ListenOverflows`: connections that found an accept queue full.
    pub listen_overflows: Option<u64>,
    /// `TcpExt: ListenDrops`: connections dropped at listen sockets, overflows
    /// included.
    pub listen_drops: Option<u64>,
}

impl Host {
    /// Reads /proc/self and /proc/net/netstat now.
    pub fn read() -> Self {
        let me = Process::myself().ok();
        let rss_bytes = me
            .as_ref()
            .and_then(|p| p.statm().ok())
            .map(|statm| statm.resident * procfs::page_size());
        let open_fds = me
            .as_ref()
            .and_then(|p| p.fd_count().ok())
            .map(|n| n as u64);
        let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
        Self {
            rss_bytes,
            open_fds,
            listen_overflows: tcp_ext(&netstat, "ListenOverflows"),
            listen_drops: tcp_ext(&netstat, "ListenDrops"),
        }
    }

    /// Registers the readings that could be taken: the supervisor's as the
    /// `process_*` metrics every Prometheus client library exports for
    /// itself, the kernel's as `corral_tcp_listen_*`.
    pub fn register(&self, registry: &mut Registry) {
        if let Some(bytes) = self.rss_bytes {
            let rss: Gauge = Gauge::default();
            registry.register(
                "process_resident_memory_bytes",
                "Resident set size of the supervisor process itself (not its workers), in bytes",
                rss.clone(),
            );
            rss.set(saturating(bytes));
        }
        if let Some(fds) = self.open_fds {
            let open: Gauge = Gauge::default();
            registry.register(
                "process_open_fds",
                "File descriptors the supervisor process holds open",
                open.clone(),
            );
            open.set(saturating(fds));
        }
        let kernel = [
            (
                "corral_tcp_listen_overflows",
                "Connections the kernel refused because a listen socket's accept queue was full (TcpExt ListenOverflows); counts every socket of the supervisor's network namespace, not only corral's",
                self.listen_overflows,
            ),
            (
                "corral_tcp_listen_drops",
                "Connections the kernel dropped at listen sockets, overflows included (TcpExt ListenDrops); counts every socket of the supervisor's network namespace, not only corral's",
                self.listen_drops,
            ),
        ];
        for (name, help, value) in kernel {
            if let Some(value) = value {
                let counter: Counter = Counter::default();
                registry.register(name, help, counter.clone());
                counter.inc_by(value);
            }
        }
    }
}

/// The `TcpExt` counter `field` of a /proc/net/netstat text: a line of
/// names and a line of values, both starting `TcpExt:`.
fn tcp_ext(netstat: &str, field: &str) -> Option<u64> {
    let mut rows = netstat
        .lines()
        .filter_map(|line| line.strip_prefix("TcpExt:"));
    let (names, values) = (rows.next()?, rows.next()?);
    let at = names.split_whitespace().position(|name| name == field)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETSTAT: &str = "\
TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPHPHits
TcpExt: 0 0 17 19 12345
IpExt: InNoRoutes ListenOverflows
IpExt: 0 99
";

    #[test]
    fn listen_counters_are_read_from_the_tcp_ext_rows() {
        assert_eq!(tcp_ext(NETSTAT, "ListenOverflows"), Some(17));
        assert_eq!(tcp_ext(NETSTAT, "ListenDrops"), Some(19));
        assert_eq!(tcp_ext(NETSTAT, "TCPHPHits"), Some(12345));
    }

    #[test]
    fn a_missing_counter_or_file_reads_as_none() {
        assert_eq!(tcp_ext(NETSTAT, "NoSuchCounter"), None);
        assert_eq!(tcp_ext("", "ListenDrops"), None);
        assert_eq!(tcp_ext("TcpExt: ListenDrops\n", "ListenDrops"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let host = Host::read();
        assert!(host.rss_bytes.is_some_and(|b| b > 0), "{host:?}");
        assert!(host.open_fds.is_some_and(|n| n > 0), "{host:?}");
        assert!(host.listen_overflows.is_some(), "{host:?}");
    }
}
