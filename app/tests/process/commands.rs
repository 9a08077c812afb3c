//! The one-shot commands: `migrate`, `seed`, `user promote`, and the exit
//! codes of configuration and operation errors.

use std::path::Path;
use std::process::{Command, Output};

use super::http::Connection;
use super::worker::{Worker, listener};

/// Runs `app ARGS` in `dir` against `dir/app.db`.
fn app(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_app"))
        .args(args)
        .current_dir(dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("app.db").display()),
        )
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("REDIS_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run app")
}

#[test]
fn a_bad_setting_is_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = app(dir.path(), &["migrate"], &[("APP_DRAIN_TIMEOUT", "soon")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "app: APP_DRAIN_TIMEOUT=\"soon\" is not valid: expected a duration such as 10s or 500ms"
    );
    assert_eq!(app(dir.path(), &["frobnicate"], &[]).status.code(), Some(2));
}

#[test]
fn without_database_url_the_sqlite_file_is_created_under_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_app"))
        .arg("migrate")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("run app");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("data/app.db").is_file(),
        "the default database is data/app.db"
    );
}

#[test]
fn promoting_an_unknown_user_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = app(dir.path(), &["user", "promote", "nobody@example.com"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no user has the email nobody@example.com"),
        "{stderr}"
    );
}

#[test]
fn seeded_data_is_served_and_its_users_can_log_in_and_be_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let out = app(dir.path(), &["seed", "--posts", "30"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (email, password) = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("grace@example.com "))
        .map(|rest| {
            (
                "grace@example.com",
                rest.split_whitespace().next().unwrap().to_owned(),
            )
        })
        .unwrap_or_else(|| panic!("the seed prints its users: {stdout}"));

    let promoted = app(dir.path(), &["user", "promote", "GRACE@example.com"], &[]);
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );

    let socket = listener();
    let worker = Worker::start(dir.path(), &socket, "seeded");
    let mut conn = Connection::open(worker.addr);
    let login = serde_json::json!({"email": email, "password": password});
    let session = conn.request("POST", "/api/auth/login", None, Some(&login));
    assert_eq!(
        session.status,
        200,
        "{}",
        String::from_utf8_lossy(&session.body)
    );
    let token = session.json()["data"]["token"].as_str().unwrap().to_owned();
    let me = conn
        .request("GET", "/api/users/me", Some(&token), None)
        .json();
    assert_eq!(me["data"]["role"], "admin");
    // An admin sees drafts too: every seeded post.
    let all = conn
        .request("GET", "/api/posts?limit=1", Some(&token), None)
        .json();
    assert_eq!(all["meta"]["total"], 30);
}
