-- Searches of five characters or more answered from one range of an index.
-- FTS5 answers a five-character term as a phrase of three trigrams, and
-- walks all three doclists to their ends with their positions: at a million
-- usernames `98765` walked three lists of about 4,300 entries to find 20.
-- Here each distinct five-character substring of a normalised username is
-- one row, so a five-character term is one range of the primary key (exact:
-- the row exists if and only if the username holds the term) and one row of
-- username_fivegram_counts for its count. A longer term takes the range of
-- its rarest five-character piece and rechecks each candidate's username.
-- Kept by triggers in the transaction of every insert, rename and delete.
-- Shorter terms keep FTS5.

-- Positions in a username (triggers cannot use a recursive WITH). Usernames
-- are at most 150 characters; the table reaches far past that.
CREATE TABLE username_positions (i INTEGER PRIMARY KEY);
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 1024)
INSERT INTO username_positions (i) SELECT i FROM seq;

CREATE TABLE username_fivegrams (
    fivegram TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (fivegram, user_id)
) WITHOUT ROWID;

-- (Characters, not bytes: substr and length count characters in text.)
INSERT INTO username_fivegrams (fivegram, user_id)
SELECT DISTINCT substr(u.username_normalized, p.i, 5), u.id
FROM users u JOIN username_positions p ON p.i <= length(u.username_normalized) - 4;

-- How many users hold each five-character piece: a five-character search's
-- exact count is one row, and a longer term's rarest piece is found here.
-- A piece nobody holds any more leaves (a missing row counts 0), so the
-- table never outgrows the pieces in use.
CREATE TABLE username_fivegram_counts (
    fivegram TEXT PRIMARY KEY NOT NULL,
    n INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO username_fivegram_counts (fivegram, n)
SELECT fivegram, COUNT(*) FROM username_fivegrams GROUP BY fivegram;

CREATE TRIGGER username_fivegram_counts_insert AFTER INSERT ON username_fivegrams BEGIN
    INSERT INTO username_fivegram_counts (fivegram, n) VALUES (new.fivegram, 1)
    ON CONFLICT (fivegram) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER username_fivegram_counts_delete AFTER DELETE ON username_fivegrams BEGIN
    UPDATE username_fivegram_counts SET n = n - 1 WHERE fivegram = old.fivegram;
    DELETE FROM username_fivegram_counts WHERE fivegram = old.fivegram AND n = 0;
END;

CREATE TRIGGER username_fivegrams_insert AFTER INSERT ON users BEGIN
    INSERT INTO username_fivegrams (fivegram, user_id)
    SELECT DISTINCT substr(new.username_normalized, i, 5), new.id
    FROM username_positions WHERE i <= length(new.username_normalized) - 4;
END;

-- A deleted user's rows are found by their keys (no index on user_id alone
-- is needed).
CREATE TRIGGER username_fivegrams_delete AFTER DELETE ON users BEGIN
    DELETE FROM username_fivegrams
    WHERE user_id = old.id AND fivegram IN (
        SELECT substr(old.username_normalized, i, 5)
        FROM username_positions WHERE i <= length(old.username_normalized) - 4);
END;

CREATE TRIGGER username_fivegrams_rename AFTER UPDATE OF username_normalized ON users
WHEN old.username_normalized IS NOT new.username_normalized BEGIN
    DELETE FROM username_fivegrams
    WHERE user_id = old.id AND fivegram IN (
        SELECT substr(old.username_normalized, i, 5)
        FROM username_positions WHERE i <= length(old.username_normalized) - 4);
    INSERT INTO username_fivegrams (fivegram, user_id)
    SELECT DISTINCT substr(new.username_normalized, i, 5), new.id
    FROM username_positions WHERE i <= length(new.username_normalized) - 4;
END;
