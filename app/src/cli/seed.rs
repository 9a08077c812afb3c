//! `app seed --posts N`: realistic demo data, written through the
//! repositories directly (no HTTP, one password hash per user) so that a
//! benchmark database of thousands of posts fills in seconds.
//!
//! Six users (the first an admin) with random passwords printed once;
//! follows between them, made first so publishing notifies followers as it
//! would in real use; N posts spread over the last half year with varied
//! titles, tags and paragraphs, about one in seven a draft; and a few
//! comments on most published posts. Run it again and it adds another set
//! of users (`name+2@example.com`, ...) rather than failing.

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use rand::distr::Alphanumeric;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use uuid::Uuid;

use crate::business::slug::slugify;
use crate::business::{HashLimits, PasswordHasher};
use crate::data::{NewComment, NewPost, NewUser, PostStatus, Repositories, Role};

const PEOPLE: [(&str, &str); 6] = [
    ("Ada Lovelace", "ada"),
    ("Grace Hopper", "grace"),
    ("Alan Turing", "alan"),
    ("Barbara Liskov", "barbara"),
    ("Edsger Dijkstra", "edsger"),
    ("Margaret Hamilton", "margaret"),
];
const OPENERS: [&str; 10] = [
    "A practical guide to",
    "What I learned from",
    "Ten mistakes in",
    "Rethinking",
    "The hidden cost of",
    "Getting started with",
    "Notes on",
    "Why we moved away from",
    "A field report on",
    "Debugging",
];
const SUBJECTS: [&str; 12] = [
    "connection pooling",
    "graceful shutdown",
    "SQLite in production",
    "rolling deploys",
    "cache invalidation",
    "structured logging",
    "property-based testing",
    "async Rust",
    "zero-downtime migrations",
    "rate limiting",
    "observability budgets",
    "on-call rotations",
];
const TAGS: [&str; 12] = [
    "rust",
    "databases",
    "devops",
    "testing",
    "performance",
    "security",
    "web",
    "tutorial",
    "opinion",
    "architecture",
    "career",
    "tooling",
];
const SENTENCES: [&str; 10] = [
    "The first version worked on a laptop and fell over under real traffic.",
    "Measure before you change anything, then measure again afterwards.",
    "Most of the latency turned out to be waiting on a lock nobody knew about.",
    "A boring solution that everyone understands beats a clever one.",
    "We wrote the failure mode down before writing the fix.",
    "Timeouts belong on every call that crosses a process boundary.",
    "The benchmark lied until we warmed the cache and pinned the CPU governor.",
    "Rollbacks were rehearsed weekly, so the real one was uneventful.",
    "Small, reversible steps kept the blast radius of each change tiny.",
    "In the end the fix was three lines; finding them took a week.",
];
const REPLIES: [&str; 6] = [
    "Great write-up, thanks for sharing the numbers.",
    "We hit exactly this last quarter. The timeout advice saved us.",
    "Did you try this with PostgreSQL as well?",
    "Bookmarked. The section on rollbacks is gold.",
    "I would love a follow-up on the monitoring side.",
    "Clear and to the point. More of this, please.",
];

/// Writes the demo data and prints the users' credentials.
pub async fn seed(repos: &Repositories, posts: u32) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let suffix = free_suffix(repos).await?;
    let now = Utc::now();
    // The services' own hasher, so seeded users log in like any other.
    let hasher = PasswordHasher::standard(HashLimits::new(PEOPLE.len()));
    let mut users = Vec::new();
    println!("seeded users (passwords are shown only now):");
    for (i, (name, local)) in PEOPLE.iter().enumerate() {
        let email = format!("{local}{suffix}@example.com");
        let password: String = (&mut rng)
            .sample_iter(Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        let user = repos
            .users
            .create(NewUser {
                id: Uuid::now_v7(),
                email: email.clone(),
                name: (*name).to_owned(),
                password_hash: hasher.hash(password.clone()).await?,
                created_at: now - Duration::days(200),
            })
            .await
            .with_context(|| format!("creating the user {email}"))?;
        let role = if i == 0 {
            repos.users.set_role(&email, Role::Admin).await?;
            "admin"
        } else {
            "user"
        };
        println!("  {email}  {password}  ({role})");
        users.push(user.id);
    }
    for &follower in &users {
        for &author in users.choose_multiple(&mut rng, 3) {
            if author != follower {
                repos.follows.follow(follower, author).await?;
            }
        }
    }
    let mut created_at: Vec<DateTime<Utc>> = (0..posts)
        .map(|_| now - Duration::seconds(rng.random_range(60..180 * 24 * 3600)))
        .collect();
    created_at.sort();
    let (mut drafts, mut comments) = (0, 0);
    for at in created_at {
        let draft = rng.random_bool(1.0 / 7.0);
        let title = format!(
            "{} {}",
            OPENERS.choose(&mut rng).expect("not empty"),
            SUBJECTS.choose(&mut rng).expect("not empty")
        );
        let tag_count = rng.random_range(1..=4);
        let tags = TAGS
            .choose_multiple(&mut rng, tag_count)
            .map(|t| (*t).to_owned())
            .collect();
        let paragraphs: Vec<String> = (0..rng.random_range(2..6))
            .map(|_| {
                let n = rng.random_range(2..5);
                SENTENCES
                    .choose_multiple(&mut rng, n)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let post = repos
            .posts
            .create(NewPost {
                id: Uuid::now_v7(),
                slug_base: slugify(&title),
                title,
                content: paragraphs.join("\n\n"),
                status: if draft {
                    PostStatus::Draft
                } else {
                    PostStatus::Published
                },
                tags,
                author_id: *users.choose(&mut rng).expect("not empty"),
                created_at: at,
            })
            .await
            .context("creating a post")?;
        if draft {
            drafts += 1;
            continue;
        }
        for minutes in 1..=rng.random_range(0..5) {
            repos
                .comments
                .create(NewComment {
                    id: Uuid::now_v7(),
                    post_id: post.id,
                    content: (*REPLIES.choose(&mut rng).expect("not empty")).to_owned(),
                    author_id: *users.choose(&mut rng).expect("not empty"),
                    created_at: (at + Duration::minutes(minutes * 17)).min(now),
                })
                .await
                .context("creating a comment")?;
            comments += 1;
        }
    }
    println!("{posts} posts ({drafts} drafts), {comments} comments, follows between the users");
    Ok(())
}

/// `""` on a fresh database, else the first `+N` that makes the seed
/// users' emails new.
async fn free_suffix(repos: &Repositories) -> anyhow::Result<String> {
    for n in 1u32.. {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("+{n}")
        };
        let probe = format!("{}{suffix}@example.com", PEOPLE[0].1);
        if repos.users.by_email(&probe).await?.is_none() {
            return Ok(suffix);
        }
    }
    unreachable!("some suffix is free")
}
