-- The publishing API's schema on PostgreSQL.
--
-- Text keys compared by the application (emails, slugs, tags, throttle keys)
-- use the "C" collation: byte order, as on SQLite, whatever the database's
-- locale. Emails are lower-cased by the application into `email_key` (no
-- citext needed), so both backends fold case the same way.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT COLLATE "C" NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE login_throttle (
    throttle_key TEXT COLLATE "C" PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ
);

CREATE TABLE posts (
    id           UUID PRIMARY KEY,
    slug         TEXT COLLATE "C" NOT NULL,
    title        TEXT NOT NULL,
    content      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    author_id    UUID NOT NULL REFERENCES users (id),
    version      BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX posts_slug_key ON posts (slug);
CREATE INDEX posts_created ON posts (created_at DESC, id DESC);
CREATE INDEX posts_status_created ON posts (status, created_at DESC, id DESC);
CREATE INDEX posts_author_created ON posts (author_id, created_at DESC, id DESC);

CREATE TABLE post_tags (
    post_id  UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag      TEXT COLLATE "C" NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX post_tags_tag ON post_tags (tag, post_id);

CREATE TABLE comments (
    id         UUID PRIMARY KEY,
    post_id    UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX comments_post_created ON comments (post_id, created_at, id);
CREATE INDEX comments_author ON comments (author_id);

CREATE TABLE follows (
    follower_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    author_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (follower_id, author_id),
    CHECK (follower_id <> author_id)
);
CREATE INDEX follows_author ON follows (author_id, follower_id);

CREATE TABLE notifications (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id    UUID NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    is_read    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX notifications_user_post ON notifications (user_id, post_id);
CREATE INDEX notifications_user_created ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_post ON notifications (post_id);
CREATE INDEX notifications_author ON notifications (author_id);

-- One row: bumped by every write to posts, tags or comments (cache keys).
CREATE TABLE content_generation (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO content_generation (id, generation) VALUES (1, 0);
