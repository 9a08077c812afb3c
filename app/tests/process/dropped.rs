//! Writes whose clients go away: 1,000 `POST /api/posts` cut off at random
//! points (part of the request sent, all of it, or all of it and a moment
//! of waiting, then the socket closed, sometimes with a reset) against two
//! workers sharing one database, then 1,000 ordinary requests. None of the
//! ordinary ones may fail (a connection left inside a transaction answered
//! 503 to every request that got it), and every cut-off post is either
//! stored whole (its tags and its follower's notification with it) or not
//! at all. On SQLite the file must pass `PRAGMA integrity_check`.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use sqlx::{Connection as _, PgConnection, Row, SqliteConnection};

use super::http::{Connection, Response, register_and_login};
use super::worker::{Worker, listener};
use crate::data::harness::PgSchema;

/// Cut-off writes, then ordinary requests.
const DROPPED: usize = 1000;
const NORMAL: usize = 1000;
/// Clients at once, and the writes each has in flight when it goes away:
/// enough that writes queue, so that many are cut off while they wait or
/// run rather than before they start.
const CLIENTS: usize = 16;
const IN_FLIGHT: usize = 8;

/// Each cut-off post with its tag and notification counts, the same SQL on
/// both backends.
const DROPPED_POSTS: &str = "SELECT p.title, \
       (SELECT COUNT(*) FROM post_tags t WHERE t.post_id = p.id) AS tags, \
       (SELECT COUNT(*) FROM notifications n WHERE n.post_id = p.id) AS notified \
     FROM posts p WHERE p.title LIKE 'Dropped %'";

#[test]
fn dropped_writes_leave_nothing_half_done_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let workers = start_two(dir.path(), &[]);
    let addrs = [workers.0.addr, workers.1.addr];
    let token = exercise(addrs);
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    runtime().block_on(async {
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(integrity, "ok");
        let rows = sqlx::query(DROPPED_POSTS)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        check_whole(rows.iter().map(|row| {
            (
                row.get::<String, _>("title"),
                row.get::<i64, _>("tags"),
                row.get::<i64, _>("notified"),
            )
        }));
    });
    drop((workers, token));
}

#[test]
fn dropped_writes_leave_nothing_half_done_on_postgres() {
    let rt = runtime();
    let Some(schema) = rt.block_on(PgSchema::create()) else {
        return;
    };
    let url = schema.url();
    let dir = tempfile::tempdir().unwrap();
    let outcome = std::panic::catch_unwind(|| {
        let workers = start_two(dir.path(), &[("DATABASE_URL", &url)]);
        exercise([workers.0.addr, workers.1.addr]);
        rt.block_on(async {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let rows = sqlx::query(DROPPED_POSTS)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            check_whole(rows.iter().map(|row| {
                (
                    row.get::<String, _>("title"),
                    row.get::<i64, _>("tags"),
                    row.get::<i64, _>("notified"),
                )
            }));
        });
    });
    rt.block_on(schema.drop());
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure);
    }
}

/// A runtime for the test's own database checks.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Two workers in `dir`, each on a socket of its own.
fn start_two(dir: &std::path::Path, env: &[(&str, &str)]) -> (Worker, Worker) {
    let (a, b) = (listener(), listener());
    let first = Worker::start_with(dir, &[(&a, "http")], "a", env);
    let second = Worker::start_with(dir, &[(&b, "http")], "b", env);
    // The sockets stay open in the workers.
    (first, second)
}

/// Sets up an author with a follower, cuts off [`DROPPED`] writes, then
/// makes [`NORMAL`] ordinary requests that must all succeed; returns the
/// author's token.
fn exercise(addrs: [SocketAddr; 2]) -> String {
    let token = register_and_login(&mut Connection::open(addrs[0]), "author@example.com");
    let follower = register_and_login(&mut Connection::open(addrs[1]), "follower@example.com");
    let mut conn = Connection::open(addrs[0]);
    let me = conn
        .request("GET", "/api/users/me", Some(&token), None)
        .expect(200);
    let author = me["data"]["id"].as_str().expect("an id").to_owned();
    let path = format!("/api/users/{author}/follow");
    let followed = conn.request("POST", &path, Some(&follower), None);
    assert!(followed.status < 300, "follow: {}", followed.status);

    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let token = &token;
            s.spawn(move || {
                let mut rng = rand::rng();
                let mine: Vec<usize> = (client..DROPPED).step_by(CLIENTS).collect();
                for round in mine.chunks(IN_FLIGHT) {
                    cut_off(addrs, token, round, &mut rng);
                }
            });
        }
    });

    let statuses: Vec<u16> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let token = &token;
                s.spawn(move || {
                    let mut conn = Connection::open(addrs[client % 2]);
                    (client..NORMAL)
                        .step_by(CLIENTS)
                        .map(|n| ordinary(&mut conn, token, n).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    assert_eq!(statuses.len(), NORMAL);
    let failed: Vec<_> = statuses.iter().filter(|s| **s >= 300).collect();
    assert!(
        failed.is_empty(),
        "{} of {NORMAL} ordinary requests failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    token
}

/// Sends posts `numbers` at once, one per connection, and goes away from
/// each at a random point.
fn cut_off(addrs: [SocketAddr; 2], token: &str, numbers: &[usize], rng: &mut impl Rng) {
    let streams: Vec<TcpStream> = numbers
        .iter()
        .map(|&n| {
            let body = json!({
                "title": format!("Dropped {n}"),
                "content": "Its client went away.",
                "tags": ["dropped", format!("d{n}")],
                "status": "published",
            })
            .to_string();
            let request = format!(
                "POST /api/posts HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut stream = TcpStream::connect(addrs[n % 2]).expect("connect");
            stream.set_nodelay(true).unwrap();
            let sent = if rng.random_bool(0.8) {
                request.len()
            } else {
                rng.random_range(1..request.len())
            };
            let _ = stream.write_all(&request.as_bytes()[..sent]);
            stream
        })
        .collect();
    // Gone while the writes wait for their turn or run: the server may
    // find out at any point of them.
    std::thread::sleep(Duration::from_micros(rng.random_range(0..5000)));
    for stream in streams {
        if rng.random_bool(0.5) {
            reset_on_close(&stream);
        }
        drop(stream);
    }
}

/// Makes closing `stream` send a reset rather than a FIN.
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket we own, with a pointer to a
    // live `linger` and its exact size.
    let done = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(done, 0, "SO_LINGER");
}

/// Request `n` of the ordinary ones: mostly writes, some reads.
fn ordinary(conn: &mut Connection, token: &str, n: usize) -> Response {
    if n % 4 == 3 {
        return conn.request("GET", "/api/posts?limit=10", None, None);
    }
    let post = json!({
        "title": format!("Ordinary {n}"),
        "content": "Its client waited for the answer.",
        "tags": ["ordinary"],
        "status": "published",
    });
    conn.request("POST", "/api/posts", Some(token), Some(&post))
}

/// Every cut-off post found is whole: two tags and one notification.
fn check_whole(rows: impl Iterator<Item = (String, i64, i64)>) {
    let mut found = 0;
    for (title, tags, notified) in rows {
        assert_eq!((tags, notified), (2, 1), "{title} is stored in part");
        found += 1;
    }
    println!("{found} of {DROPPED} cut-off posts were stored whole, the rest not at all");
}
