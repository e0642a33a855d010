-- The admin site's server-side sessions, by the SHA-256 of the cookie's
-- value (a copy of this table opens no session). A session is good while
-- it has not expired and its user's token_version is the one it began
-- with: a password change ends it, as it ends API tokens.
CREATE TABLE admin_sessions (
    key_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    token_version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- Every change made in the admin, as Django's LogEntry: who (kept as a
-- name too, so the entry outlives its author), when, which user, what.
-- object_id has no foreign key: a deleted user's history stays.
CREATE TABLE admin_log (
    id BIGSERIAL PRIMARY KEY,
    action_time TIMESTAMP NOT NULL,
    actor_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor_username TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    object_repr TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('add', 'change', 'delete')),
    change_message TEXT NOT NULL
);
CREATE INDEX admin_log_object ON admin_log (object_id, action_time);
