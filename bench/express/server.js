// The PM2 + Express 4 + better-sqlite3 baseline of bench/suite.py: the
// four endpoints the benchmark drives, with the app's semantics (docs/api.md):
// GET /health (a timed database ping, health+json), GET /api/posts (page,
// limit; published posts, or all for an admin), GET /api/posts/:idOrSlug
// (drafts hidden, strong ETag "v{version}-{sha256}", 304), POST /api/posts
// (bearer token, validation, unique slug, tags, follower notifications, 201
// with Location); X-Request-Id on every answer, problem+json errors and one
// JSON access-log line per request on stdout, which PM2 files.
// Run by PM2 in cluster mode: PORT and DB_PATH come from its ecosystem.
'use strict';

const crypto = require('node:crypto');
const os = require('node:os');
const express = require('express');
const store = require('./db');
const { postDraft, problem, pageQuery } = require('./rules');

const db = store.open(process.env.DB_PATH);
const q = store.queries(db);
const serviceId = `${os.hostname()}/${process.pid}`;
const app = express();
app.disable('x-powered-by');
app.set('etag', false);

// Request id (echoed when usable, else new) and the access log line.
app.use((req, res, next) => {
  const given = req.get('x-request-id');
  const id = given && given.length <= 128 && /^[\x21-\x7e]+$/.test(given) ? given : crypto.randomUUID();
  res.set('x-request-id', id);
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const latency = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(`${JSON.stringify({
      timestamp: new Date().toISOString(), level: 'INFO', message: 'finished processing request',
      latency: `${latency.toFixed(3)} ms`, status: res.statusCode,
      request_id: id, method: req.method, path: req.path,
    })}\n`);
  });
  next();
});

// The caller: `undefined` without a token, else the user; 401 for a bad token.
function caller(req, res) {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(header);
  const user = match && q.userForToken(crypto.createHash('sha256').update(match[1]).digest());
  if (!user) {
    res.set('www-authenticate', 'Bearer error="invalid_token"');
    problem(res, 401, 'The token is missing, invalid or expired.');
    return null;
  }
  return user;
}

app.get('/health', (req, res) => {
  const started = process.hrtime.bigint();
  let status = 'pass';
  try { q.ping(); } catch { status = 'fail'; }
  const observed = Number(process.hrtime.bigint() - started) / 1e6;
  res.status(status === 'fail' ? 503 : 200)
    .set({ 'content-type': 'application/health+json', 'cache-control': 'no-store' })
    .send(JSON.stringify({
      status, version: '0.1.0', serviceId,
      checks: { 'database:responseTime': [{ componentType: 'datastore', observedValue: Math.round(observed * 1000) / 1000,
        observedUnit: 'ms', status, time: new Date().toISOString() }] },
    }));
});

app.get('/api/posts', (req, res) => {
  const who = caller(req, res);
  if (who === null) return;
  const page = pageQuery(req.query);
  if (page.errors) return problem(res, 422, 'The query breaks a rule.', page.errors);
  const { total, rows } = q.list(who && who.role === 'admin', page.limit, (page.page - 1) * page.limit);
  res.json({
    data: rows.map((row) => view(row, false)),
    meta: { total, page: page.page, limit: page.limit, totalPages: Math.ceil(total / page.limit) },
  });
});

app.get('/api/posts/:idOrSlug', (req, res) => {
  const who = caller(req, res);
  if (who === null) return;
  const row = q.byIdOrSlug(req.params.idOrSlug);
  const visible = row && (row.status === 'published' || (who && (who.role === 'admin' || who.id === row.author_id)));
  if (!visible) return problem(res, 404, 'No post has this id or slug.');
  single(req, res, 200, view(row, true), row.version);
});

app.post('/api/posts', express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }), (req, res) => {
  const who = caller(req, res);
  if (who === null) return;
  if (who === undefined) {
    res.set('www-authenticate', 'Bearer');
    return problem(res, 401, 'This needs a bearer token.');
  }
  if (!req.is(['application/json', 'application/*+json'])) return problem(res, 415, 'Send JSON.');
  const draft = postDraft(req.body);
  if (draft.errors) return problem(res, 422, 'The post breaks a rule.', draft.errors);
  const row = q.create({ ...draft.post, id: uuidV7(), author: who.id });
  res.set('location', `/api/posts/${row.id}`);
  single(req, res, 201, view(row, true), row.version);
});

app.use((req, res) => problem(res, 404, 'No resource has this path.'));
// Malformed JSON bodies (400), bodies over 1 MiB (413), and bugs (500).
app.use((err, req, res, _next) => {
  const status = err.status && err.status < 500 ? err.status : 500;
  if (status === 500) console.error(err);
  problem(res, status, status === 500 ? undefined : 'The request could not be read.');
});

/** A post row as the app shows it (a summary with its excerpt, or whole). */
function view(row, whole) {
  const chars = Array.from(row.content);
  const post = {
    id: row.id, slug: row.slug, title: row.title,
    excerpt: chars.length > 200 ? `${chars.slice(0, 200).join('').trim()}…` : row.content.trim(),
    status: row.status, tags: JSON.parse(row.tags), author: { id: row.author_id, name: row.author_name },
    commentCount: row.comment_count, createdAt: row.created_at, updatedAt: row.updated_at,
    publishedAt: row.published_at,
  };
  if (whole) post.content = row.content;
  return post;
}

/** `{data}` with the app's strong ETag, or 304 when If-None-Match names it. */
function single(req, res, status, data, version) {
  const body = JSON.stringify({ data });
  const tag = `"v${version}-${crypto.createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
  res.set('etag', tag);
  const none = (req.get('if-none-match') || '').split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (status === 200 && (none.includes(tag) || none.includes('*'))) return res.status(304).end();
  res.status(status).type('application/json').send(body);
}

/** A time-ordered UUID (v7), as the app makes ids. */
function uuidV7() {
  const bytes = crypto.randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGINT', () => server.close(() => process.exit(0)));
