-- The number of users, kept by triggers in the transaction of every
-- insert and delete (the API, the CLI, a cascade): GET /users reads one
-- row for its exact `count` instead of counting a million.
CREATE TABLE user_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO user_count (id, n) SELECT 1, COUNT(*) FROM users;

CREATE TRIGGER user_count_insert AFTER INSERT ON users BEGIN
    UPDATE user_count SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER user_count_delete AFTER DELETE ON users BEGIN
    UPDATE user_count SET n = n - 1 WHERE id = 1;
END;

-- Substring search on usernames through an index: FTS5's trigram
-- tokenizer over the normalised username (an external-content table: the
-- text stays in `users`), case-sensitive because the stored form is
-- already case-folded. Kept in step by triggers.
CREATE VIRTUAL TABLE users_search USING fts5(
    username_normalized,
    content = 'users',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO users_search (rowid, username_normalized)
    SELECT id, username_normalized FROM users;

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, username_normalized)
        VALUES (new.id, new.username_normalized);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username_normalized)
        VALUES ('delete', old.id, old.username_normalized);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF username_normalized ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username_normalized)
        VALUES ('delete', old.id, old.username_normalized);
    INSERT INTO users_search (rowid, username_normalized)
        VALUES (new.id, new.username_normalized);
END;

-- `portrait check` looks stored names up by picture name, in batches.
CREATE INDEX profiles_image ON profiles (image);
