CREATE OR REPLACE FUNCTION username_trigrams_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_trigrams (trigram, user_id)
    SELECT DISTINCT substr(u.username_normalized, i, 3), u.id
    FROM inserted u, generate_series(1, char_length(u.username_normalized) - 2) AS i;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION username_fivegrams_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO username_fivegrams (fivegram, user_id)
    SELECT DISTINCT substr(u.username_normalized, i, 5), u.id
    FROM inserted u, generate_series(1, char_length(u.username_normalized) - 4) AS i;
    RETURN NULL;
END;
$$;
