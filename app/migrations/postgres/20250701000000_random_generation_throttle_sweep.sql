-- The content generation becomes a random value, set afresh by every write
-- (see `bump_generation`), instead of a counter from 0. Cache keys hold it,
-- and a shared Redis may serve several databases (or a copy of one): with
-- counters, every database had generation 1 after its first write, so one
-- database could be served another's cached reads. A random start makes a
-- fresh database differ from every other one at once.
UPDATE content_generation
SET generation = floor((random() - 0.5) * 9.0e18)::bigint
WHERE id = 1;

-- Login throttle keys are now the SHA-256 of the email, and every attempt
-- deletes a few expired records (older than the window, not locked); this
-- index finds them without scanning the table. Records under the old
-- (plain email) keys simply expire and are swept the same way.
CREATE INDEX login_throttle_window ON login_throttle (window_start);
