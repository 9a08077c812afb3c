// The app's request rules for what the benchmark sends (docs/api.md):
// page and limit, a new post's fields and tags, the slug, problem+json.
'use strict';

const FIELDS = new Set(['title', 'content', 'tags', 'status']);

/** An RFC 9457 problem answer; `errors` lists every broken rule (422). */
function problem(res, status, detail, errors) {
  const titles = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 413: 'Payload Too Large',
    415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 500: 'Internal Server Error' };
  const body = { type: 'about:blank', title: titles[status] || 'Error', status };
  if (detail) body.detail = detail;
  if (errors) body.errors = errors;
  res.status(status).type('application/problem+json').send(JSON.stringify(body));
}

/** `page` ≥ 1 (default 1) and `limit` 1..100 (default 10), or the errors. */
function pageQuery(query) {
  const errors = [];
  const whole = (name, fallback, max) => {
    const raw = query[name];
    if (raw === undefined) return fallback;
    const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 1 && n <= max)) errors.push({ field: name, message: `must be a whole number from 1 to ${max}` });
    return n;
  };
  const page = whole('page', 1, Number.MAX_SAFE_INTEGER);
  const limit = whole('limit', 10, 100);
  return errors.length ? { errors } : { page, limit };
}

/** The characters of `text` after trimming, or an error if out of `min..max`. */
function text(errors, name, value, min, max, line) {
  if (typeof value !== 'string') {
    errors.push({ field: name, message: 'must be a string' });
    return undefined;
  }
  const trimmed = value.trim();
  const length = Array.from(trimmed).length;
  // eslint-disable-next-line no-control-regex
  if (length < min || length > max || (line && /[\u0000-\u001f\u007f]/.test(trimmed))) {
    errors.push({ field: name, message: `must be ${min} to ${max} characters${line ? ' without control characters' : ''}` });
  }
  return trimmed;
}

/** Normalised, distinct tags (at most 10 of 1..30 characters), or an error. */
function tagList(errors, tags) {
  if (tags === undefined || tags === null) return [];
  if (!Array.isArray(tags) || tags.length > 100) {
    errors.push({ field: 'tags', message: 'must be a list of at most 100 strings' });
    return [];
  }
  const out = [];
  for (const tag of tags) {
    const t = typeof tag === 'string' ? tag.trim().replace(/\s+/gu, ' ').toLowerCase() : '';
    if (!/^[\p{L}\p{N}_ -]{1,30}$/u.test(t)) {
      errors.push({ field: 'tags', message: 'each tag is 1 to 30 letters, digits, -, _ or spaces' });
      return [];
    }
    if (!out.includes(t)) out.push(t);
  }
  if (out.length > 10) errors.push({ field: 'tags', message: 'at most 10 distinct tags' });
  return out;
}

/** The app's slug: NFKD, ASCII only, lower case, dashes, ≤ 80, else `post`. */
function slugify(title) {
  const ascii = title.normalize('NFKD').replace(/[^\x00-\x7f]/g, '');
  const slug = ascii.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 80).replace(/-+$/, '');
  return slug || 'post';
}

/** A new post from a request body: `{post}` or `{errors}`. */
function postDraft(body) {
  const errors = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { errors: [{ field: '', message: 'the body must be a JSON object' }] };
  }
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) errors.push({ field: key, message: 'is not accepted here' });
  }
  const title = text(errors, 'title', body.title, 3, 200, true);
  const content = text(errors, 'content', body.content, 10, 100000, false);
  const tags = tagList(errors, body.tags);
  const status = body.status === undefined || body.status === null ? 'draft' : body.status;
  if (status !== 'draft' && status !== 'published') errors.push({ field: 'status', message: 'is draft or published' });
  if (errors.length) return { errors };
  return { post: { title, content, tags, status, slugBase: slugify(title) } };
}

module.exports = { problem, pageQuery, postDraft, slugify };
