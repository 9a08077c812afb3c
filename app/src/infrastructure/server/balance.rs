//! Spreading connections evenly over the workers that share one socket.
//!
//! Every worker accepts from the same kernel queue, which is what makes a
//! reload safe: a draining worker closes its socket and what waits in the
//! queue is served by the others, with no per-worker queue
//! (`SO_REUSEPORT`) to strand connections in. But the kernel wakes every
//! worker for a new connection and the first one to run takes all it
//! finds: 64 keep-alive connections opened at once often all land on one
//! worker while the other idles, for as long as they stay open.
//!
//! So a worker stops accepting while it holds more than its share of the
//! open connections: `mine > ceil(total / workers) + 1` ([`rule`]). The
//! others' counts come from a table in shared memory ([`table`]), one slot
//! per `CORRAL_INSTANCE`, which each worker updates as it accepts and
//! closes connections. The queue stays shared, and the pause can never
//! cost capacity:
//! - the least loaded worker is never over its share, so some worker
//!   always accepts;
//! - a worker that is gone leaves the table: at its drain, or, killed, as
//!   soon as another worker finds its pid gone; a draining worker does not
//!   count at all;
//! - a paused worker re-checks after 1 ms (backing off to 16 ms while the
//!   queue is empty), and if a connection waits in the queue for 25 ms
//!   whatever the table says (the others are stuck, or their slots are
//!   stale), it takes everything waiting.
//!
//! Only the sockets handed over by corral take part, with
//! `CORRAL_INSTANCES` of 2 or more; a worker started alone, and the private
//! health socket, accept as before. If the table cannot be opened the
//! worker logs why and accepts as before.

mod rule;
mod table;

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags};
use tokio::net::TcpListener;

pub(super) use rule::Patience;
use rule::Step;
use table::Table;

use crate::infrastructure::settings::Instance;

/// This worker's part in the balance: its open connections on the shared
/// sockets, and the table where the others see them.
#[derive(Debug)]
pub(super) struct Balance {
    table: Table,
    mine: AtomicU32,
}

impl Balance {
    /// Joins the table of `socket` (the first shared socket) as `instance`,
    /// when there is anything to balance.
    pub(super) fn join(instance: Instance, socket: &TcpListener) -> Option<Arc<Self>> {
        if instance.count < 2 {
            return None;
        }
        match Table::open(socket, instance.index, instance.count) {
            Ok(table) => Some(Arc::new(Self {
                table,
                mine: AtomicU32::new(0),
            })),
            Err(error) => {
                tracing::warn!(%error, "cannot open the table of open connections; accepting without balancing");
                None
            }
        }
    }

    /// Resolves once this worker may accept a connection from `socket`:
    /// at once while it is within its share, otherwise as the module doc
    /// says. `patience` is the accept loop's, kept between connections.
    pub(super) async fn admit(&self, socket: &TcpListener, patience: &mut Patience) {
        loop {
            let mine = u64::from(self.mine.load(Ordering::Relaxed));
            let mut over = rule::over_share(mine, self.table.others());
            if over && self.table.forget_dead() > 0 {
                over = rule::over_share(mine, self.table.others());
            }
            let pending = over && has_pending(socket);
            match patience.step(Instant::now(), over, pending) {
                Step::Accept => return,
                Step::Wait(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Counts a connection accepted from a shared socket, until the
    /// returned guard is dropped with the connection.
    pub(super) fn hold(self: &Arc<Self>) -> Held {
        let mine = self.mine.fetch_add(1, Ordering::Relaxed) + 1;
        self.table.publish(mine);
        Held(Arc::clone(self))
    }

    /// Leaves the table: the worker accepts no more, so it neither counts
    /// for the others nor holds them back.
    pub(super) fn leave(&self) {
        self.table.leave();
    }
}

/// One open connection, counted while it lives.
#[derive(Debug)]
pub(super) struct Held(Arc<Balance>);

impl Drop for Held {
    fn drop(&mut self) {
        let mine = self.0.mine.fetch_sub(1, Ordering::Relaxed) - 1;
        self.0.table.publish(mine);
    }
}

/// Whether a connection waits in `socket`'s queue (a listening socket
/// polls readable while its queue holds one).
fn has_pending(socket: &TcpListener) -> bool {
    let fd = socket.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&zero)).is_ok_and(|ready| ready > 0)
}
