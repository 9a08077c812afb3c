// `node import.js APP_DB OUT_DB`: copies the app's seeded data (users,
// sessions, posts, tags, comments, follows, notifications) into the
// baseline's own database, so both serve the same posts under the same
// slugs and accept the same bearer token.
'use strict';

const store = require('./db');

const [source, target] = process.argv.slice(2);
if (!source || !target) {
  console.error('usage: node import.js APP_DB OUT_DB');
  process.exit(2);
}
const db = store.open(target);
db.prepare('ATTACH DATABASE ? AS src').run(source);
const tables = {
  users: 'id, email, email_key, name, password_hash, role, created_at',
  sessions: 'token_hash, user_id, created_at, expires_at',
  posts: 'id, slug, title, content, status, author_id, version, created_at, updated_at, published_at',
  post_tags: 'post_id, tag, position',
  comments: 'id, post_id, author_id, content, created_at',
  follows: 'follower_id, author_id',
  notifications: 'id, user_id, post_id, author_id, created_at, is_read',
};
db.transaction(() => {
  for (const [table, columns] of Object.entries(tables)) {
    db.exec(`INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM src.${table}`);
  }
})();
db.exec('DETACH DATABASE src');
const posts = db.prepare("SELECT COUNT(*) FROM posts WHERE status = 'published'").pluck().get();
db.pragma('wal_checkpoint(TRUNCATE)');
db.close();
console.log(`imported ${posts} published posts into ${target}`);
