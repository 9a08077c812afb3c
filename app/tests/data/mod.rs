//! The data layer's tests: every repository method, run against SQLite
//! always (once on the file's writer host, once on a second store that
//! sends every write to it) and against PostgreSQL when `TEST_DATABASE_URL`
//! is set (each test in a schema of its own, dropped afterwards).

/// Defines one test per backend from one body. The body gets the
/// repositories (migrated) and, when it names a second argument, the URL
/// of the same database, to open more pools on it.
macro_rules! both {
    ($($(#[doc = $doc:literal])* async fn $name:ident($repos:ident $(, $url:ident)?) $body:block)*) => {$(
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($repos: app::data::Repositories, _url: String) {
                $(let $url = _url;)?
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::data::harness::on_sqlite(run).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_guest() {
                crate::data::harness::on_sqlite_guest(run).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::data::harness::on_postgres(run).await;
            }
        }
    )*};
}

mod auth;
mod comments;
mod database;
pub(crate) mod harness;
mod listing;
mod posts;
mod publishing;
mod throttle_race;
mod users;
