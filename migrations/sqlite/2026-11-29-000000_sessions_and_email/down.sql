DROP TABLE email_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE users DROP COLUMN email_verified;
