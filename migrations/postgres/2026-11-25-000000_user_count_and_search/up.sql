-- The number of users, kept by triggers in the transaction of every
-- insert and delete (the API, the CLI, a cascade): GET /users reads one
-- row for its exact `count` instead of counting a million. (Concurrent
-- registrations queue on this row until they commit; registration is
-- bound by argon2 long before that matters.)
-- No insert or delete may slip between the initial count and the
-- triggers (another replica still serving during a deploy).
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE user_count (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO user_count (id, n) SELECT 1, COUNT(*) FROM users;

-- Statement-level, with transition tables: one UPDATE per statement,
-- however many rows it inserts or deletes (a bulk load stays fast).
CREATE FUNCTION user_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_count SET n = n + (SELECT COUNT(*) FROM inserted) WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE FUNCTION user_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_count SET n = n - (SELECT COUNT(*) FROM deleted) WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER user_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION user_count_inserted();
CREATE TRIGGER user_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION user_count_deleted();

-- Substring search on usernames through an index: pg_trgm's GIN index
-- serves `LIKE '%term%'` for terms of three characters or more.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_username_trgm ON users USING gin (username_normalized gin_trgm_ops);

-- `portrait check` looks stored names up by picture name, in batches.
CREATE INDEX profiles_image ON profiles (image);
