//! The writer host between stores on one file, each standing for a process.

use std::fs::File;
use std::path::PathBuf;

use chrono::{Duration, Utc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use uuid::Uuid;

use super::super::writer::Moves;
use super::super::{SqliteStore, beside};
use super::lock_file;
use crate::data::{
    CommentRepository, DataError, Database, FollowRepository, LoginThrottleRepository, NewComment,
    NewPost, NewSession, NewUser, NotificationRepository, PostChange, PostRepository, PostStatus,
    Role, SessionRepository, ThrottleLimits, User, UserRepository,
};

/// A migrated store on `app.db` in `dir`: the first one opened on a file
/// is its host, the others its guests.
async fn store(dir: &tempfile::TempDir) -> SqliteStore {
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let (store, _generation) = SqliteStore::open(&url, &crate::data::DbOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        name: "Ada".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: Utc::now(),
    }
}

/// A guest whose own writer is closed can only write through the host.
async fn guest_without_writer(dir: &tempfile::TempDir) -> SqliteStore {
    let guest = store(dir).await;
    guest.writer.close().await;
    guest
}

#[tokio::test]
async fn every_write_of_a_guest_runs_on_the_host_with_its_errors_intact() {
    let dir = tempfile::tempdir().unwrap();
    let host = store(&dir).await;
    let guest = guest_without_writer(&dir).await;

    let user = UserRepository::create(&guest, new_user("ada@example.com"))
        .await
        .unwrap();
    let taken = UserRepository::create(&guest, new_user("ADA@example.com")).await;
    assert!(
        matches!(
            taken,
            Err(DataError::Conflict {
                constraint: "users.email"
            })
        ),
        "{taken:?}"
    );
    let admin = guest
        .set_role("ada@example.com", Role::Admin)
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);

    let token = open_session(&guest, user.id, 7).await;
    assert!(guest.revoke(&token).await.unwrap());
    assert!(!guest.revoke(&token).await.unwrap());

    let now = Utc::now();
    let limits = ThrottleLimits {
        window: Duration::minutes(15),
        max_failures: 1,
        lock: Duration::minutes(5),
    };
    assert_eq!(guest.reserve("key", now, limits).await.unwrap(), None);
    let locked = guest.record_failure("key", now, limits).await.unwrap();
    assert!(locked.is_some(), "one failure locks with max_failures 1");
    assert_eq!(guest.succeed("key", now).await.unwrap(), locked);

    let post = PostRepository::create(
        &guest,
        NewPost {
            id: Uuid::now_v7(),
            slug_base: "hello".to_owned(),
            title: "Hello".to_owned(),
            content: "World".to_owned(),
            status: PostStatus::Published,
            tags: vec!["rust".to_owned()],
            author_id: user.id,
            created_at: now,
        },
    )
    .await
    .unwrap();
    let change = |expected_version| PostChange {
        title: Some("Hello again".to_owned()),
        expected_version: Some(expected_version),
        now,
        ..PostChange::default()
    };
    let updated = guest.update(post.id, change(post.version)).await.unwrap();
    assert_eq!(updated.title, "Hello again");
    let stale = guest.update(post.id, change(post.version)).await;
    assert!(
        matches!(stale, Err(DataError::VersionMismatch)),
        "{stale:?}"
    );

    let comment = CommentRepository::create(
        &guest,
        NewComment {
            id: Uuid::now_v7(),
            post_id: post.id,
            content: "Nice".to_owned(),
            author_id: user.id,
            created_at: now,
        },
    )
    .await
    .unwrap();
    let reader = UserRepository::create(&guest, new_user("grace@example.com"))
        .await
        .unwrap();
    guest.follow(reader.id, user.id).await.unwrap();
    guest.unfollow(reader.id, user.id).await.unwrap();
    guest.mark_all_read(reader.id).await.unwrap();
    CommentRepository::delete(&guest, comment.id).await.unwrap();
    PostRepository::delete(&guest, post.id).await.unwrap();
    let gone = PostRepository::delete(&guest, post.id).await;
    assert!(matches!(gone, Err(DataError::NotFound)), "{gone:?}");

    let seen = host.by_email("ada@example.com").await.unwrap().unwrap();
    assert_eq!(
        seen.role,
        Role::Admin,
        "the host's file holds the guest's writes"
    );
    guest.close().await;
    host.close().await;
}

#[tokio::test]
async fn when_the_host_closes_a_guest_takes_over_and_later_stores_write_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = store(&dir).await;
    let second = store(&dir).await;
    UserRepository::create(&second, new_user("a@example.com"))
        .await
        .unwrap();
    first.close().await;

    // The second store finds the host gone and takes over with its next
    // write. Its link learns of the host's goodbye in a task of its own: a
    // write sent before that task ran comes back unread and runs here, and
    // the take-over waits for the write after it.
    let mut attempt = 0;
    while !second.host.is_hosting() {
        assert!(attempt < 10, "the second store never took over");
        let email = format!("b{attempt}@example.com");
        UserRepository::create(&second, new_user(&email))
            .await
            .unwrap();
        attempt += 1;
    }
    let third = guest_without_writer(&dir).await;
    UserRepository::create(&third, new_user("c@example.com"))
        .await
        .unwrap();
    assert!(second.by_email("c@example.com").await.unwrap().is_some());
    third.close().await;
    second.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_fails_while_the_host_hands_over() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const WRITERS: usize = 8;
    const EACH: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let host = store(&dir).await;
    let guest = Arc::new(store(&dir).await);
    let written = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (guest, written) = (Arc::clone(&guest), Arc::clone(&written));
            tokio::spawn(async move {
                for n in 0..EACH {
                    let email = format!("{writer}-{n}@example.com");
                    UserRepository::create(&*guest, new_user(&email))
                        .await
                        .unwrap_or_else(|error| panic!("{email}: {error:?}"));
                    written.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while written.load(Ordering::Relaxed) < WRITERS * EACH / 4 {
        tokio::task::yield_now().await;
    }
    host.close().await;
    let at_close = written.load(Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(at_close < WRITERS * EACH, "the host left mid-stream");
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&guest.pool)
        .await
        .unwrap();
    assert_eq!(users, (WRITERS * EACH) as i64);
    guest.close().await;
}

#[test]
fn guests_are_served_while_the_hosts_own_runtime_is_not_running() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (host_runtime, guest_runtime) = (runtime(), runtime());
    let host = host_runtime.block_on(store(&dir));
    assert!(host.host.is_hosting());
    // From here on nothing drives the host's runtime, as when its one
    // thread is busy with requests.
    guest_runtime.block_on(async {
        let guest = guest_without_writer(&dir).await;
        let written = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            UserRepository::create(&guest, new_user("ada@example.com")),
        )
        .await;
        assert!(
            matches!(written, Ok(Ok(_))),
            "the guest's write waited for the host's runtime: {written:?}"
        );
        guest.close().await;
    });
    host_runtime.block_on(host.close());
}

/// Opens a session of `user` on `store` that ends in an hour; its token
/// hash is 32 bytes of `token`.
async fn open_session(store: &SqliteStore, user: Uuid, token: u8) -> Vec<u8> {
    let now = Utc::now();
    let session = NewSession {
        token_hash: vec![token; 32],
        user_id: user,
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    SessionRepository::create(store, session).await.unwrap();
    vec![token; 32]
}

/// A new user signed in on `store` with a session of `token`.
async fn signed_in(store: &SqliteStore, email: &str, token: u8) -> (User, Vec<u8>) {
    let user = UserRepository::create(store, new_user(email))
        .await
        .unwrap();
    let token = open_session(store, user.id, token).await;
    (user, token)
}

/// A host and a guest on one file in `dir`, and a user signed in through
/// the host: its token hash.
async fn host_and_guest_signed_in(
    dir: &tempfile::TempDir,
) -> (SqliteStore, SqliteStore, User, Vec<u8>) {
    let host = store(dir).await;
    let guest = store(dir).await;
    let (user, token) = signed_in(&host, "ada@example.com", 7).await;
    (host, guest, user, token)
}

#[tokio::test]
async fn session_checks_come_from_memory_until_a_revocation_lands_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (host, guest, user, token) = host_and_guest_signed_in(&dir).await;
    async fn check(store: &SqliteStore, token: &[u8]) -> Option<User> {
        store.user_for(token, Utc::now()).await.unwrap()
    }
    assert_eq!(check(&host, &token).await, Some(user.clone()));
    assert_eq!(check(&guest, &token).await, Some(user.clone()));

    // Gone behind the caches' back (no revocation counted): both still
    // answer from memory.
    host.writer
        .write(Moves::default(), |conn| {
            Ok(conn.execute("DELETE FROM sessions", [])?)
        })
        .await
        .unwrap();
    assert_eq!(check(&host, &token).await, Some(user.clone()));
    assert_eq!(check(&guest, &token).await, Some(user.clone()));

    // A revocation (of any session) made through either store moves the
    // counter: neither answers from memory once it is acknowledged.
    assert!(!SessionRepository::revoke(&guest, &[9; 32]).await.unwrap());
    assert_eq!(check(&host, &token).await, None);
    assert_eq!(check(&guest, &token).await, None);
    guest.close().await;
    host.close().await;
}

#[tokio::test]
async fn a_role_change_reaches_every_stores_session_checks_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (host, guest, user, token) = host_and_guest_signed_in(&dir).await;
    assert_eq!(
        guest.user_for(&token, Utc::now()).await.unwrap(),
        Some(user.clone())
    );
    let admin = host.set_role("ada@example.com", Role::Admin).await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    let seen = guest.user_for(&token, Utc::now()).await.unwrap();
    assert_eq!(seen.map(|user| user.role), Some(Role::Admin));
    guest.close().await;
    host.close().await;
}

#[tokio::test]
async fn a_remembered_session_still_ends_when_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let (user, token) = signed_in(&store, "ada@example.com", 7).await;
    assert_eq!(
        store.user_for(&token, Utc::now()).await.unwrap(),
        Some(user)
    );
    let later = Utc::now() + Duration::hours(2);
    assert_eq!(store.user_for(&token, later).await.unwrap(), None);
    store.close().await;
}

/// Migrates a fresh file in `dir` (its first store hosts, then leaves),
/// then holds the host lock and listens where the host does, as a host
/// this test plays: the lock, the listener and the socket's path.
pub(super) async fn pose_as_host(dir: &tempfile::TempDir) -> (File, UnixListener, PathBuf) {
    store(dir).await.close().await;
    let db = dir.path().join("app.db");
    let lock = lock_file(&beside(&db, "-writer.host")).expect("the lock is free");
    let socket = beside(&db, "-writer.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    (lock, listener, socket)
}

/// Plays a host that takes one connection, reads its first request line,
/// sends `answer` (whole frames), hangs up and lets go.
async fn fake_host(dir: &tempfile::TempDir, answer: &'static str) -> tokio::task::JoinHandle<()> {
    let (lock, listener, _) = pose_as_host(dir).await;
    tokio::spawn(async move {
        let accepted = tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept());
        let (stream, _) = accepted.await.expect("the guest connects").unwrap();
        let (read, mut write) = stream.into_split();
        let mut request = String::new();
        BufReader::new(read).read_line(&mut request).await.unwrap();
        assert!(request.contains("CreateUser"), "{request}");
        write.write_all(answer.as_bytes()).await.unwrap();
        drop(lock);
    })
}

#[tokio::test]
async fn a_write_the_leaving_host_did_not_run_runs_where_it_was_made() {
    let dir = tempfile::tempdir().unwrap();
    let host = fake_host(&dir, "\"Hello\"\n\"Goodbye\"\n").await;
    let guest = store(&dir).await;
    UserRepository::create(&guest, new_user("a@example.com"))
        .await
        .unwrap();
    host.await.unwrap();
    assert!(guest.by_email("a@example.com").await.unwrap().is_some());
    guest.close().await;
}

#[tokio::test]
async fn a_write_in_the_hands_of_a_host_that_died_fails_and_the_next_one_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let host = fake_host(&dir, "\"Hello\"\n").await;
    let guest = store(&dir).await;
    let lost = UserRepository::create(&guest, new_user("a@example.com")).await;
    let Err(DataError::Unavailable(reason)) = lost else {
        panic!("expected Unavailable, got {lost:?}");
    };
    assert!(reason.to_string().contains("may or may not"), "{reason}");
    host.await.unwrap();
    UserRepository::create(&guest, new_user("b@example.com"))
        .await
        .unwrap();
    guest.close().await;
}

#[tokio::test]
async fn a_write_sent_on_a_connection_the_host_never_took_runs_where_it_was_made() {
    const LEAVES_AFTER: std::time::Duration = std::time::Duration::from_millis(200);
    let dir = tempfile::tempdir().unwrap();
    // The guest's connection waits in the listener's queue until the host
    // stops listening without ever taking it.
    let (lock, listener, _) = pose_as_host(&dir).await;
    let leave = tokio::spawn(async move {
        tokio::time::sleep(LEAVES_AFTER).await;
        drop(listener);
        drop(lock);
    });
    let guest = store(&dir).await;
    let started = std::time::Instant::now();
    UserRepository::create(&guest, new_user("a@example.com"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= LEAVES_AFTER / 2,
        "the write waited on the untaken connection, then ran here"
    );
    leave.await.unwrap();
    assert!(guest.by_email("a@example.com").await.unwrap().is_some());
    guest.close().await;
}

#[tokio::test]
async fn with_a_socket_path_too_long_to_bind_each_store_writes_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("d".repeat(120));
    std::fs::create_dir(&deep).unwrap();
    let url = format!("sqlite://{}/app.db", deep.display());
    let (first, _) = SqliteStore::open(&url, &crate::data::DbOptions::default())
        .await
        .unwrap();
    first.migrate().await.unwrap();
    let (second, _) = SqliteStore::open(&url, &crate::data::DbOptions::default())
        .await
        .unwrap();
    UserRepository::create(&first, new_user("a@example.com"))
        .await
        .unwrap();
    UserRepository::create(&second, new_user("b@example.com"))
        .await
        .unwrap();
    assert!(first.by_email("b@example.com").await.unwrap().is_some());
    assert!(
        !beside(&deep.join("app.db"), "-writer.host").exists(),
        "nobody tried to host"
    );
    second.close().await;
    first.close().await;
}
