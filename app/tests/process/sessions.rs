//! OWASP API2 (broken authentication) across worker processes sharing one
//! database: a token revoked by logout, or expired, through one worker is
//! refused at once by the other (no per-process session cache may keep it
//! alive); tampered tokens are refused; failed logins spread over both
//! workers lock the account at the same total as through one. On SQLite,
//! and on PostgreSQL when `TEST_DATABASE_URL` is set; with the shared cache
//! (Redis) in front when `TEST_REDIS_URL` is set.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::http::{Connection, register_and_login};
use super::worker::{Worker, listener};

/// Short, so that the test can watch a token expire.
const TOKEN_TTL: &str = "3s";

#[test]
fn sessions_and_login_throttling_hold_across_worker_processes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_sessions(dir.path(), &[]);
}

#[test]
fn sessions_and_login_throttling_hold_across_worker_processes_on_postgres() {
    super::on_postgres(|url| {
        let dir = tempfile::tempdir().unwrap();
        check_sessions(dir.path(), &[("DATABASE_URL", url)]);
    });
}

/// Asserts that `token` is refused by `conn` as an invalid token.
#[track_caller]
fn refused(conn: &mut Connection, token: &str, what: &str) {
    let reply = conn.request("GET", "/api/users/me", Some(token), None);
    assert_eq!(reply.status, 401, "{what}: {:?}", reply.json());
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\""),
        "{what}"
    );
}

/// Asserts that `token` is accepted by `conn`.
#[track_caller]
fn accepted(conn: &mut Connection, token: &str, what: &str) {
    let reply = conn.request("GET", "/api/users/me", Some(token), None);
    assert_eq!(reply.status, 200, "{what}: {:?}", reply.json());
}

fn login(conn: &mut Connection, email: &str, password: &str) -> super::http::Response {
    let body = json!({"email": email, "password": password});
    conn.request("POST", "/api/auth/login", None, Some(&body))
}

fn check_sessions(dir: &Path, env: &[(&str, &str)]) {
    let redis = std::env::var("TEST_REDIS_URL").ok();
    let mut env = env.to_vec();
    env.push(("APP_TOKEN_TTL", TOKEN_TTL));
    match &redis {
        Some(url) => env.push(("REDIS_URL", url.as_str())),
        None => println!("TEST_REDIS_URL not set: in-process caches only"),
    }
    let (socket_a, socket_b) = (listener(), listener());
    let a = Worker::start_with(dir, &[(&socket_a, "http")], "a", &env);
    let b = Worker::start_with(dir, &[(&socket_b, "http")], "b", &env);
    let [mut a_conn, mut b_conn] = [Connection::open(a.addr), Connection::open(b.addr)];

    // Revoked through A: refused by B at once, though B just accepted it.
    let ann = register_and_login(&mut a_conn, "ann@example.com");
    let bob = register_and_login(&mut b_conn, "bob@example.com");
    accepted(&mut b_conn, &ann, "ann's fresh token through B");
    accepted(&mut a_conn, &ann, "ann's fresh token through A");
    let out = a_conn.request("POST", "/api/auth/logout", Some(&ann), None);
    assert_eq!(out.status, 204);
    refused(
        &mut b_conn,
        &ann,
        "ann's token revoked through A, used on B",
    );
    refused(
        &mut a_conn,
        &ann,
        "ann's token revoked through A, used on A",
    );

    // Tampered: one character changed, cut short, grown, another user's
    // start spliced onto this one's end.
    let flip = |c: char| if c == 'A' { 'B' } else { 'A' };
    let mut flipped: Vec<char> = bob.chars().collect();
    let last = flipped.len() - 1;
    flipped[last] = flip(flipped[last]);
    let flipped: String = flipped.into_iter().collect();
    let spliced = format!("{}{}", &ann[..20], &bob[20..]);
    let tampered = [
        ("one character changed", flipped),
        ("cut short", bob[..bob.len() - 1].to_owned()),
        ("grown", format!("{bob}A")),
        ("another user's start", spliced),
        ("far too long", "A".repeat(4096)),
    ];
    for (what, token) in &tampered {
        refused(&mut a_conn, token, what);
        refused(&mut b_conn, token, what);
    }
    accepted(&mut a_conn, &bob, "bob's own token");

    // Expired: a token made through B, accepted by A, refused by both once
    // its time is up.
    let session = login(
        &mut b_conn,
        "bob@example.com",
        "correct horse battery staple",
    )
    .expect(200);
    let short = session["data"]["token"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<chrono::Utc> = session["data"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .expect("an RFC 3339 time");
    accepted(&mut a_conn, &short, "a live token through A");
    let left = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    assert!(left <= Duration::from_secs(3), "{left:?}");
    std::thread::sleep(left + Duration::from_millis(200));
    refused(&mut a_conn, &short, "an expired token through A");
    refused(&mut b_conn, &short, "an expired token through B");

    // Throttling: failures alternate between the workers; the fifth, on
    // whichever worker, locks the account for both, even for the right
    // password.
    register_and_login(&mut a_conn, "carol@example.com");
    for attempt in 0..4 {
        let conn = if attempt % 2 == 0 {
            &mut a_conn
        } else {
            &mut b_conn
        };
        let reply = login(conn, "carol@example.com", "wrong password");
        assert_eq!(reply.status, 401, "failure {attempt}: {:?}", reply.json());
    }
    let locked = login(&mut a_conn, "carol@example.com", "wrong password");
    assert_eq!(locked.status, 429, "{:?}", locked.json());
    assert!(locked.header("retry-after").is_some());
    let right = login(
        &mut b_conn,
        "carol@example.com",
        "correct horse battery staple",
    );
    assert_eq!(right.status, 429, "{:?}", right.json());
    drop((a, b));
}
