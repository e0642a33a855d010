-- Whether the user proved the address is theirs (a link sent to it was
-- followed). Existing users start unverified.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT 0;

-- Refresh tokens by their id (`jti`), never the token itself. One family
-- per sign-in: a refresh spends its token and adds the successor to the
-- family; a spent token presented again revokes the whole family.
CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    family TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    spent_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Single-use email tokens (password reset, email verification), by the
-- SHA-256 of the token: a copy of this table opens no account.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
    -- The address the token was sent to: verifying proves that one.
    email_normalized TEXT NOT NULL,
    -- The user's token_version then: a password change kills the token.
    token_version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);
