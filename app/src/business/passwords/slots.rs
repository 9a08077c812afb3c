//! Slots for password hashes, handed out with a bounded wait.
//!
//! Each hash holds ~19 MiB and a blocking thread for tens of
//! milliseconds, so only a few run at once. A flood of logins must not
//! turn into an ever-growing queue of requests that each wait longer than
//! a client would: a caller waits at most [`HashLimits::max_wait`], behind
//! at most [`HashLimits::max_waiting`] others, and is otherwise told to
//! come back later ([`ServiceError::Busy`], a 503 with `Retry-After`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::business::error::{ServiceError, ServiceResult};

/// How many hashes run at once and how long callers may queue for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes computed at once (at least 1).
    pub concurrency: usize,
    /// The longest a caller waits for a slot before it is refused.
    pub max_wait: Duration,
    /// Callers that may wait at once; one more is refused without waiting,
    /// since it would most likely time out anyway.
    pub max_waiting: usize,
}

impl HashLimits {
    /// `concurrency` slots, a 5 s wait, and a queue of 64 callers per slot
    /// (at tens of milliseconds a hash, about what 5 s can serve).
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            concurrency,
            max_wait: Duration::from_secs(5),
            max_waiting: concurrency.saturating_mul(64),
        }
    }
}

/// The slots and the count of callers waiting for one.
pub(super) struct Slots {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    limits: HashLimits,
}

/// One caller's place in the queue, given back however the wait ends
/// (a slot, a timeout, or the request being dropped).
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    /// Slots as `limits` says.
    pub(super) fn new(limits: HashLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    /// A slot, held until the permit is dropped; `Busy` when none frees up
    /// within the wait or the queue is full.
    pub(super) async fn acquire(&self) -> ServiceResult<OwnedSemaphorePermit> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        let max = self.limits.max_waiting;
        self.waiting
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| self.busy())?;
        let _place = Place(&self.waiting);
        let acquire = Arc::clone(&self.permits).acquire_owned();
        match tokio::time::timeout(self.limits.max_wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(ServiceError::Unavailable {
                during: "waiting to hash a password",
                source: Box::new(closed),
            }),
            Err(_elapsed) => Err(self.busy()),
        }
    }

    /// Refusal advice: come back after about one full wait (≥ 1 s).
    fn busy(&self) -> ServiceError {
        let wait = self.limits.max_wait;
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ServiceError::Busy {
            retry_after: Duration::from_secs(seconds.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(max_wait: Duration, max_waiting: usize) -> Arc<Slots> {
        Arc::new(Slots::new(HashLimits {
            concurrency: 1,
            max_wait,
            max_waiting,
        }))
    }

    fn is_busy(result: ServiceResult<OwnedSemaphorePermit>) -> bool {
        matches!(result, Err(ServiceError::Busy { retry_after }) if retry_after >= Duration::from_secs(1))
    }

    #[tokio::test]
    async fn a_caller_waits_at_most_max_wait() {
        let slots = slots(Duration::from_millis(20), 10);
        let held = slots.acquire().await.unwrap();
        assert!(is_busy(slots.acquire().await));
        assert_eq!(
            slots.waiting.load(Ordering::SeqCst),
            0,
            "the place is given back"
        );
        drop(held);
        assert!(slots.acquire().await.is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let slots = slots(Duration::from_secs(60), 1);
        let held = slots.acquire().await.unwrap();
        let queued = tokio::spawn({
            let slots = Arc::clone(&slots);
            async move { slots.acquire().await.map(drop) }
        });
        while slots.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Without the bound this would wait the full minute.
        let refused = tokio::time::timeout(Duration::from_secs(5), slots.acquire()).await;
        assert!(is_busy(refused.expect("refused without waiting")));
        drop(held);
        assert!(queued.await.unwrap().is_ok(), "the queued caller is served");
        assert_eq!(slots.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn defaults_scale_with_the_slots() {
        let limits = HashLimits::new(0);
        assert_eq!(limits.concurrency, 1);
        assert_eq!(limits.max_wait, Duration::from_secs(5));
        assert_eq!(HashLimits::new(4).max_waiting, 256);
    }
}
