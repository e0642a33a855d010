-- Searches of five characters or more answered from one range of an index,
-- as three-character ones are from username_trigrams. pg_trgm finds the
-- candidates of `LIKE '%98765%'` by intersecting three posting lists of
-- about 4,300 entries each, then rechecks each candidate in the heap. Here
-- each distinct five-character substring of a normalised username is one
-- row, so a five-character term is one range of the primary key (index-only
-- and exact: the row exists if and only if the username holds the term) and
-- one row of username_fivegram_counts for its count. A longer term takes the
-- range of its rarest five-character piece and rechecks each candidate's
-- username. Four-character terms keep pg_trgm.
-- Kept by triggers in the transaction of every insert, rename and delete.
-- No insert or delete may slip between the backfill and the triggers.
LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE username_fivegrams (
    fivegram TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (fivegram, user_id)
);

-- (Characters, not bytes: a normalised username may hold any letter.)
INSERT INTO username_fivegrams (fivegram, user_id)
SELECT DISTINCT substr(u.username_normalized, i, 5), u.id
FROM users u, generate_series(1, char_length(u.username_normalized) - 4) AS i;

-- How many users hold each five-character piece: a five-character search's
-- exact count is one row, and a longer term's rarest piece is found here.
CREATE TABLE username_fivegram_counts (
    fivegram TEXT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO username_fivegram_counts (fivegram, n)
SELECT fivegram, COUNT(*) FROM username_fivegrams GROUP BY fivegram;

-- Kept by triggers on username_fivegrams, upserting in fivegram order so
-- that concurrent registrations queue instead of deadlocking (as
-- username_trigram_counts).
CREATE FUNCTION username_fivegram_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_fivegram_counts AS c (fivegram, n)
    SELECT fivegram, COUNT(*) FROM added GROUP BY fivegram ORDER BY fivegram
    ON CONFLICT (fivegram) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE FUNCTION username_fivegram_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_fivegram_counts AS c (fivegram, n)
    SELECT fivegram, -COUNT(*) FROM removed GROUP BY fivegram ORDER BY fivegram
    ON CONFLICT (fivegram) DO UPDATE SET n = c.n + EXCLUDED.n;
    -- A piece nobody holds any more leaves (a missing row counts 0).
    DELETE FROM username_fivegram_counts
    WHERE n = 0 AND fivegram IN (SELECT fivegram FROM removed);
    RETURN NULL;
END;
$$;
CREATE TRIGGER username_fivegram_counts_insert AFTER INSERT ON username_fivegrams
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION username_fivegram_counts_added();
CREATE TRIGGER username_fivegram_counts_delete AFTER DELETE ON username_fivegrams
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION username_fivegram_counts_removed();

-- Statement-level with transition tables for inserts and deletes (a bulk
-- load is one INSERT); renames one row at a time.
CREATE FUNCTION username_fivegrams_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_fivegrams (fivegram, user_id)
    SELECT DISTINCT substr(u.username_normalized, i, 5), u.id
    FROM inserted u, generate_series(1, char_length(u.username_normalized) - 4) AS i;
    RETURN NULL;
END;
$$;
CREATE FUNCTION username_fivegrams_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM username_fivegrams f
    USING (SELECT DISTINCT substr(d.username_normalized, i, 5) AS fivegram, d.id
           FROM deleted d, generate_series(1, char_length(d.username_normalized) - 4) AS i) g
    WHERE f.fivegram = g.fivegram AND f.user_id = g.id;
    RETURN NULL;
END;
$$;
CREATE FUNCTION username_fivegrams_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM username_fivegrams f
    USING (SELECT DISTINCT substr(OLD.username_normalized, i, 5) AS fivegram
           FROM generate_series(1, char_length(OLD.username_normalized) - 4) AS i) g
    WHERE f.fivegram = g.fivegram AND f.user_id = OLD.id;
    INSERT INTO username_fivegrams (fivegram, user_id)
    SELECT DISTINCT substr(NEW.username_normalized, i, 5), NEW.id
    FROM generate_series(1, char_length(NEW.username_normalized) - 4) AS i;
    RETURN NULL;
END;
$$;
CREATE TRIGGER username_fivegrams_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION username_fivegrams_inserted();
CREATE TRIGGER username_fivegrams_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION username_fivegrams_deleted();
CREATE TRIGGER username_fivegrams_rename AFTER UPDATE OF username_normalized, id ON users
    FOR EACH ROW WHEN (OLD.username_normalized IS DISTINCT FROM NEW.username_normalized
                       OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION username_fivegrams_renamed();
