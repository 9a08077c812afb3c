//! Two worker processes on one SQLite file, written to concurrently from
//! several clients each: no request fails (no 5xx, never "database is
//! locked"), and every acknowledged write is visible through both.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::http::{Connection, Response};
use super::worker::{Worker, listener};

const CLIENTS_PER_WORKER: usize = 3;
const POSTS_PER_CLIENT: usize = 8;

#[test]
fn two_workers_share_one_sqlite_file_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (socket_a, socket_b) = (listener(), listener());
    // Started together, so their migrations race as they do under corral.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Worker::start(dir.path(), &socket_a, "a"));
        let b = Worker::start(dir.path(), &socket_b, "b");
        (a.join().unwrap(), b)
    });
    let addrs = [a.addr, b.addr];

    let written: Vec<Vec<String>> = std::thread::scope(|s| {
        let clients: Vec<_> = (0..2 * CLIENTS_PER_WORKER)
            .map(|i| s.spawn(move || client(i, addrs[i % 2], addrs[(i + 1) % 2])))
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let ids: Vec<&String> = written.iter().flatten().collect();
    assert_eq!(ids.len(), 2 * CLIENTS_PER_WORKER * POSTS_PER_CLIENT);

    for addr in addrs {
        let mut conn = Connection::open(addr);
        for id in &ids {
            let post = expect(
                conn.request("GET", &format!("/api/posts/{id}"), None, None),
                200,
            );
            assert_eq!(post["data"]["commentCount"], 1, "post {id} through {addr}");
        }
        let list = expect(conn.request("GET", "/api/posts?limit=1", None, None), 200);
        assert_eq!(
            list["meta"]["total"],
            ids.len(),
            "the post count through {addr}"
        );
    }
    drop((a, b));
}

/// One client: registers and logs in through `home`, then creates posts
/// and comments through `home`, reading each back through `other` at once.
/// Returns the ids of its posts.
fn client(i: usize, home: SocketAddr, other: SocketAddr) -> Vec<String> {
    let (mut home, mut other) = (Connection::open(home), Connection::open(other));
    let email = format!("writer{i}@example.com");
    let password = "correct horse battery staple";
    let account = json!({"email": email, "name": format!("Writer {i}"), "password": password});
    expect(
        home.request("POST", "/api/auth/register", None, Some(&account)),
        201,
    );
    let login = json!({"email": email, "password": password});
    let session = expect(
        home.request("POST", "/api/auth/login", None, Some(&login)),
        200,
    );
    let token = session["data"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();

    (0..POSTS_PER_CLIENT)
        .map(|n| {
            let post = json!({
                "title": format!("Notes {n} from writer {i}"),
                "content": "Written by one worker, read through the other.",
                "tags": ["sharing", format!("writer-{i}")],
                "status": "published",
            });
            let created = expect(
                home.request("POST", "/api/posts", Some(&token), Some(&post)),
                201,
            );
            let id = created["data"]["id"].as_str().expect("an id").to_owned();
            let comment = json!({"content": "Seen from the other worker."});
            let path = format!("/api/posts/{id}/comments");
            expect(
                other.request("POST", &path, Some(&token), Some(&comment)),
                201,
            );
            let seen = expect(
                other.request("GET", &format!("/api/posts/{id}"), None, None),
                200,
            );
            assert_eq!(seen["data"]["commentCount"], 1);
            id
        })
        .collect()
}

/// The body of `response`, which must have `status`.
fn expect(response: Response, status: u16) -> Value {
    let body = String::from_utf8_lossy(&response.body);
    assert!(!body.contains("database is locked"), "{body}");
    response.expect(status)
}
