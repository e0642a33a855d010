-- AUTOINCREMENT so that an id is never reused: tokens name users by id.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL,
    username_normalized TEXT NOT NULL CONSTRAINT users_username_unique UNIQUE,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL CONSTRAINT users_email_unique UNIQUE,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    is_staff BOOLEAN NOT NULL DEFAULT 0,
    is_superuser BOOLEAN NOT NULL DEFAULT 0,
    date_joined TIMESTAMP NOT NULL,
    last_login TIMESTAMP,
    token_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id BIGINT NOT NULL CONSTRAINT profiles_user_unique UNIQUE
        REFERENCES users (id) ON DELETE CASCADE,
    image TEXT NOT NULL DEFAULT 'default.jpg',
    image_width INTEGER NOT NULL DEFAULT 300,
    image_height INTEGER NOT NULL DEFAULT 300,
    bio TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);
