-- Three-character searches answered from an index alone. pg_trgm's GIN
-- index finds the candidates for `LIKE '%abc%'`, but PostgreSQL rechecks
-- every one in the heap: a term held by 3,700 of a million usernames read
-- about 1,080 heap pages for its count and as many again for its page.
-- Here each distinct three-character substring of a normalised username
-- is one row, so a three-character term is one range of the primary key:
-- its count and its pages are index-only scans, in user id order, and
-- exact (the row exists if and only if the username holds the term), and
-- username_trigram_counts holds the count.
-- Longer terms keep pg_trgm, whose intersection leaves few rows to recheck.
-- Kept by triggers in the transaction of every insert, rename and delete.
-- No insert or delete may slip between the backfill and the triggers.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE username_trigrams (
    trigram TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (trigram, user_id)
);

-- (Characters, not bytes: a normalised username may hold any letter.)
INSERT INTO username_trigrams (trigram, user_id)
SELECT DISTINCT substr(u.username_normalized, i, 3), u.id
FROM users u, generate_series(1, char_length(u.username_normalized) - 2) AS i;

-- How many users hold each trigram: a three-character search's exact
-- count is one row, whatever the number of matches.
CREATE TABLE username_trigram_counts (
    trigram TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO username_trigram_counts (trigram, n)
SELECT trigram, COUNT(*) FROM username_trigrams GROUP BY trigram;

-- Kept by triggers on username_trigrams. Rows are upserted in trigram
-- order, so concurrent registrations take these row locks in one order
-- and queue instead of deadlocking (as on user_count, they wait for each
-- other's commit; registration is bound by argon2 long before that).
CREATE FUNCTION username_trigram_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_trigram_counts AS c (trigram, n)
    SELECT trigram, COUNT(*) FROM added GROUP BY trigram ORDER BY trigram
    ON CONFLICT (trigram) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE FUNCTION username_trigram_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_trigram_counts AS c (trigram, n)
    SELECT trigram, -COUNT(*) FROM removed GROUP BY trigram ORDER BY trigram
    ON CONFLICT (trigram) DO UPDATE SET n = c.n + EXCLUDED.n;
    -- A trigram nobody holds any more leaves (a missing row counts 0), so
    -- the table never outgrows the trigrams in use. Its row is locked by
    -- the upsert above until this transaction ends.
    DELETE FROM username_trigram_counts
    WHERE n = 0 AND trigram IN (SELECT trigram FROM removed);
    RETURN NULL;
END;
$$;
CREATE TRIGGER username_trigram_counts_insert AFTER INSERT ON username_trigrams
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION username_trigram_counts_added();
CREATE TRIGGER username_trigram_counts_delete AFTER DELETE ON username_trigrams
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION username_trigram_counts_removed();

-- Statement-level, with transition tables: a bulk load writes its
-- trigrams in one INSERT.
CREATE FUNCTION username_trigrams_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_trigrams (trigram, user_id)
    SELECT DISTINCT substr(u.username_normalized, i, 3), u.id
    FROM inserted u, generate_series(1, char_length(u.username_normalized) - 2) AS i;
    RETURN NULL;
END;
$$;
-- A deleted user's rows are found by their keys (no index on user_id
-- alone is needed).
CREATE FUNCTION username_trigrams_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM username_trigrams t
    USING (SELECT DISTINCT substr(d.username_normalized, i, 3) AS trigram, d.id
           FROM deleted d, generate_series(1, char_length(d.username_normalized) - 2) AS i) g
    WHERE t.trigram = g.trigram AND t.user_id = g.id;
    RETURN NULL;
END;
$$;
CREATE FUNCTION username_trigrams_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM username_trigrams t
    USING (SELECT DISTINCT substr(OLD.username_normalized, i, 3) AS trigram
           FROM generate_series(1, char_length(OLD.username_normalized) - 2) AS i) g
    WHERE t.trigram = g.trigram AND t.user_id = OLD.id;
    INSERT INTO username_trigrams (trigram, user_id)
    SELECT DISTINCT substr(NEW.username_normalized, i, 3), NEW.id
    FROM generate_series(1, char_length(NEW.username_normalized) - 2) AS i;
    RETURN NULL;
END;
$$;
CREATE TRIGGER username_trigrams_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION username_trigrams_inserted();
CREATE TRIGGER username_trigrams_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION username_trigrams_deleted();
-- (A statement-level trigger with transition tables cannot name columns;
-- renames are rare, so one row at a time.)
CREATE TRIGGER username_trigrams_rename AFTER UPDATE OF username_normalized, id ON users
    FOR EACH ROW WHEN (OLD.username_normalized IS DISTINCT FROM NEW.username_normalized
                       OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION username_trigrams_renamed();
