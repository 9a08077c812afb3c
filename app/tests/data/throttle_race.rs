//! The failed-login throttle on PostgreSQL under sweeps: every attempt
//! counted stays counted, however another worker's sweep of expired
//! records interleaves with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use app::data::ThrottleLimits;
use chrono::Duration;
use sqlx::{Connection as _, PgConnection};

use super::harness::{at, on_postgres};

/// Attempts each of the [`RESERVERS`] makes.
const ATTEMPTS: usize = 100;
/// Tasks reserving attempts of one key at once.
const RESERVERS: usize = 4;
/// Tasks sweeping the key's record at once.
const SWEEPERS: usize = 2;

/// A copy of the sweep's predicate (expired, not locked, skipping rows
/// others hold; `data/postgres/auth.rs`), narrowed to the key, with one
/// bound for "expired" and "now" so that it runs while the record counts,
/// and returning what each deleted record had counted: the store's sweep
/// returns no counts to add up.
const SWEEP: &str = "DELETE FROM login_throttle WHERE throttle_key IN (\
    SELECT throttle_key FROM login_throttle \
    WHERE throttle_key = 'k' AND window_start <= $1 \
    AND (locked_until IS NULL OR locked_until <= $1) FOR UPDATE SKIP LOCKED) \
    RETURNING failures";

/// Every attempt `reserve` reports counted is in the key's record when the
/// dust settles, or in a record a sweep deleted: the sum of what sweeps
/// deleted and what is left equals the attempts counted. With `ON
/// CONFLICT DO NOTHING` then `SELECT ... FOR UPDATE`, a sweep between the
/// two left some attempts counted into no row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_never_lose_a_counted_attempt_on_postgres() {
    on_postgres(|repos, url| async move {
        let limits = ThrottleLimits {
            window: Duration::seconds(60),
            max_failures: u32::MAX,
            lock: Duration::seconds(300),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let sweepers: Vec<_> = (0..SWEEPERS)
            .map(|_| {
                let (url, stop) = (url.clone(), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut conn = PgConnection::connect(&url).await.unwrap();
                    let mut swept = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        let deleted: Vec<i32> = sqlx::query_scalar(SWEEP)
                            .bind(at(1))
                            .fetch_all(&mut conn)
                            .await
                            .unwrap();
                        swept += deleted.iter().map(|n| i64::from(*n)).sum::<i64>();
                    }
                    swept
                })
            })
            .collect();
        let reservers: Vec<_> = (0..RESERVERS)
            .map(|_| {
                let repos = repos.clone();
                tokio::spawn(async move {
                    for _ in 0..ATTEMPTS {
                        let refused = repos.login_throttle.reserve("k", at(0), limits).await;
                        assert_eq!(refused.unwrap(), None, "the limit is never reached");
                    }
                })
            })
            .collect();
        for reserver in reservers {
            reserver.await.unwrap();
        }
        // Every reservation succeeded (asserted above), so every attempt
        // counted.
        let counted = (RESERVERS * ATTEMPTS) as i64;
        stop.store(true, Ordering::Relaxed);
        let mut swept = 0;
        for sweeper in sweepers {
            swept += sweeper.await.unwrap();
        }
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let left: Option<i32> =
            sqlx::query_scalar("SELECT failures FROM login_throttle WHERE throttle_key = 'k'")
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        assert!(
            swept > 0,
            "the sweeps never met the record: the test proves nothing"
        );
        assert_eq!(swept + i64::from(left.unwrap_or(0)), counted);
    })
    .await;
}
