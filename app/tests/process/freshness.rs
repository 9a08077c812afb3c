//! Read-your-writes across worker processes: after a write is acknowledged
//! by one worker, the other's cached reads (a post, a list, the tag cloud)
//! show it at once, cycle after cycle, on SQLite (the generation in shared
//! memory) and on PostgreSQL (the generation read from the database), with
//! the shared cache (Redis) in front when `TEST_REDIS_URL` is set.

use std::path::Path;

use serde_json::json;

use super::http::{Connection, register_and_login};
use super::worker::{Worker, listener};

/// Write-then-read cycles, alternating which worker writes.
const CYCLES: usize = 200;

#[test]
fn reads_through_the_other_worker_see_every_write_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_freshness(dir.path(), &[]);
}

#[test]
fn reads_through_the_other_worker_see_every_write_on_postgres() {
    super::on_postgres(|url| {
        let dir = tempfile::tempdir().unwrap();
        check_freshness(dir.path(), &[("DATABASE_URL", url)]);
    });
}

/// Starts two workers in `dir` with `env`, then runs [`CYCLES`] cycles of:
/// both workers read (so each caches the current state), one writes (an
/// edit of the post, every third cycle a comment, every fifth the number of tags),
/// the other reads the post, the list and the tag cloud, which must show
/// the write. Counts every stale read and expects none.
fn check_freshness(dir: &Path, env: &[(&str, &str)]) {
    let redis = std::env::var("TEST_REDIS_URL").ok();
    let mut env = env.to_vec();
    match &redis {
        Some(url) => env.push(("REDIS_URL", url.as_str())),
        None => println!("TEST_REDIS_URL not set: in-process caches only"),
    }
    let (socket_a, socket_b) = (listener(), listener());
    let a = Worker::start_with(dir, &[(&socket_a, "http")], "a", &env);
    let b = Worker::start_with(dir, &[(&socket_b, "http")], "b", &env);
    let mut conns = [Connection::open(a.addr), Connection::open(b.addr)];
    let token = register_and_login(&mut conns[0], "fresh@example.com");
    let post = json!({
        "title": "Fresh 0",
        "content": "A post edited through one worker, read through the other.",
        "tags": ["t0"],
        "status": "published",
    });
    let created = conns[0]
        .request("POST", "/api/posts", Some(&token), Some(&post))
        .expect(201);
    let id = created["data"]["id"].as_str().expect("an id").to_owned();

    let mut stale = Vec::new();
    let mut comments = 0;
    for cycle in 1..=CYCLES {
        for conn in &mut conns {
            read(conn, &id);
        }
        let (writer, reader) = if cycle % 2 == 0 { (0, 1) } else { (1, 0) };
        let title = format!("Fresh {cycle}");
        // From 1 to 10 tags, changing every fifth cycle.
        let tags: Vec<String> = (0..(cycle / 5) % 10 + 1).map(|k| format!("t{k}")).collect();
        let edit = json!({"title": title, "tags": tags});
        let path = format!("/api/posts/{id}");
        conns[writer]
            .request("PATCH", &path, Some(&token), Some(&edit))
            .expect(200);
        if cycle % 3 == 0 {
            let comment = json!({"content": format!("Comment {cycle}")});
            let path = format!("/api/posts/{id}/comments");
            conns[writer]
                .request("POST", &path, Some(&token), Some(&comment))
                .expect(201);
            comments += 1;
        }
        let seen = read(&mut conns[reader], &id);
        let wanted = Seen {
            title: title.clone(),
            comments,
            list_title: title,
            tag_count: tags.len(),
        };
        if seen != wanted {
            stale.push(format!("cycle {cycle}: saw {seen:?}, wanted {wanted:?}"));
        }
    }
    assert!(
        stale.is_empty(),
        "{} stale reads of {CYCLES}: {stale:#?}",
        stale.len()
    );
    drop((a, b));
}

/// What one worker shows of the post.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    title: String,
    comments: u64,
    list_title: String,
    tag_count: usize,
}

/// Reads the post, the first page of the list and the tag cloud.
fn read(conn: &mut Connection, id: &str) -> Seen {
    let post = conn
        .request("GET", &format!("/api/posts/{id}"), None, None)
        .expect(200);
    let list = conn
        .request("GET", "/api/posts?limit=10", None, None)
        .expect(200);
    let tags = conn.request("GET", "/api/tags", None, None).expect(200);
    Seen {
        title: post["data"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        comments: post["data"]["commentCount"].as_u64().unwrap_or_default(),
        list_title: list["data"][0]["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        tag_count: tags["data"].as_array().map_or(0, Vec::len),
    }
}
