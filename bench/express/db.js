// The baseline's data layer: better-sqlite3 on its own SQLite file, with
// the app's schema for the tables the benchmark touches, WAL and a 5 s busy
// timeout like the app, and prepared statements made once per process.
'use strict';

const crypto = require('node:crypto');
const Database = require('better-sqlite3');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY NOT NULL, email TEXT NOT NULL, email_key TEXT NOT NULL,
  name TEXT NOT NULL, password_hash TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'user',
  created_at TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email_key);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash BLOB PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (
  id TEXT PRIMARY KEY NOT NULL, slug TEXT NOT NULL, title TEXT NOT NULL, content TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('draft', 'published')),
  author_id TEXT NOT NULL REFERENCES users (id), version INTEGER NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, published_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS posts_slug_key ON posts (slug);
CREATE INDEX IF NOT EXISTS posts_created ON posts (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS posts_status_created ON posts (status, created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS post_tags (
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE, tag TEXT NOT NULL,
  position INTEGER NOT NULL, PRIMARY KEY (post_id, tag));
CREATE INDEX IF NOT EXISTS post_tags_tag ON post_tags (tag, post_id);
CREATE TABLE IF NOT EXISTS comments (
  id TEXT PRIMARY KEY NOT NULL, post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, content TEXT NOT NULL,
  created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS comments_post_created ON comments (post_id, created_at, id);
CREATE TABLE IF NOT EXISTS follows (
  follower_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  PRIMARY KEY (follower_id, author_id));
CREATE INDEX IF NOT EXISTS follows_author ON follows (author_id, follower_id);
CREATE TABLE IF NOT EXISTS notifications (
  id TEXT PRIMARY KEY NOT NULL, user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  author_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at TEXT NOT NULL, is_read INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS notifications_user_post ON notifications (user_id, post_id);
`;

// The app's post columns: tags in order, the author's name, the comment count.
const POST_COLUMNS = (content) => `SELECT p.id, p.slug, p.title, ${content} AS content, p.status,
  (SELECT json_group_array(t.tag ORDER BY t.position) FROM post_tags t WHERE t.post_id = p.id) AS tags,
  p.author_id, a.name AS author_name,
  (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comment_count,
  p.created_at, p.updated_at, p.published_at, p.version
  FROM posts p JOIN users a ON a.id = p.author_id`;

/** The app's timestamp form: RFC 3339 UTC with six fractional digits. */
function now() {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

/** Opens (and if need be creates) the database at `path`. */
function open(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  return db;
}

/** The queries the server runs, prepared once. */
function queries(db) {
  // Two forms of each list query, so the published one uses the
  // (status, created_at) index as the app's does.
  const listing = (where) => ({
    count: db.prepare(`SELECT COUNT(*) FROM posts p ${where}`).pluck(),
    page: db.prepare(`${POST_COLUMNS('substr(p.content, 1, 201)')} ${where}
                      ORDER BY p.created_at DESC, p.id DESC LIMIT ? OFFSET ?`),
  });
  const st = {
    ping: db.prepare('SELECT 1').pluck(),
    user: db.prepare(`SELECT u.id, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
                      WHERE s.token_hash = ? AND s.expires_at > ?`),
    published: listing("WHERE p.status = 'published'"),
    all: listing(''),
    byId: db.prepare(`${POST_COLUMNS('p.content')} WHERE p.id = ?`),
    bySlug: db.prepare(`${POST_COLUMNS('p.content')} WHERE p.slug = ?`),
    taken: db.prepare('SELECT slug FROM posts WHERE slug = ? OR (slug > ? AND slug < ?)').pluck(),
    insert: db.prepare(`INSERT INTO posts (id, slug, title, content, status, author_id, version,
                          created_at, updated_at, published_at)
                        VALUES (@id, @slug, @title, @content, @status, @author, 1, @at, @at, @published)
                        ON CONFLICT (slug) DO NOTHING`),
    tag: db.prepare('INSERT INTO post_tags (post_id, tag, position) VALUES (?, ?, ?)'),
    followers: db.prepare('SELECT follower_id FROM follows WHERE author_id = ?').pluck(),
    notify: db.prepare(`INSERT INTO notifications (id, user_id, post_id, author_id, created_at)
                        VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, post_id) DO NOTHING`),
  };

  // One immediate transaction per post, like the app: the slug is picked
  // and the post, its tags and its followers' notifications written at once.
  const create = db.transaction((post) => {
    const at = now();
    const published = post.status === 'published' ? at : null;
    for (let attempt = 0; attempt < 16; attempt++) {
      const slug = freeSlug(post.slugBase, st.taken.all(post.slugBase, `${post.slugBase}-`, `${post.slugBase}.`));
      const row = { id: post.id, slug, title: post.title, content: post.content, status: post.status,
                    author: post.author, at, published };
      if (st.insert.run(row).changes === 1) {
        post.tags.forEach((tag, i) => st.tag.run(post.id, tag, i));
        if (published) {
          for (const follower of st.followers.all(post.author)) {
            st.notify.run(crypto.randomUUID(), follower, post.id, post.author, at);
          }
        }
        return st.byId.get(post.id);
      }
    }
    throw new Error('no free slug after 16 attempts');
  });

  return {
    ping: () => st.ping.get(),
    userForToken: (hash) => st.user.get(hash, now()),
    list: (all, limit, offset) => {
      const which = all ? st.all : st.published;
      return { total: which.count.get(), rows: which.page.all(limit, offset) };
    },
    byIdOrSlug: (key) => st.byId.get(key) || st.bySlug.get(key),
    create: (post) => create.immediate(post),
  };
}

/** The first free slug among `base`, `base-2`, ... given the taken ones. */
function freeSlug(base, taken) {
  if (!taken.includes(base)) return base;
  const used = new Set(taken.map((s) => Number(s.slice(base.length + 1))));
  let next = 2;
  while (used.has(next)) next++;
  return `${base}-${next}`;
}

module.exports = { open, queries, now };
