CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username VARCHAR(150) NOT NULL,
    username_normalized VARCHAR(150) NOT NULL CONSTRAINT users_username_unique UNIQUE,
    email VARCHAR(254) NOT NULL,
    email_normalized VARCHAR(254) NOT NULL CONSTRAINT users_email_unique UNIQUE,
    password_hash TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
    date_joined TIMESTAMP NOT NULL,
    last_login TIMESTAMP,
    token_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE profiles (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL CONSTRAINT profiles_user_unique UNIQUE
        REFERENCES users (id) ON DELETE CASCADE,
    image TEXT NOT NULL DEFAULT 'default.jpg',
    image_width INTEGER NOT NULL DEFAULT 300,
    image_height INTEGER NOT NULL DEFAULT 300,
    bio TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);
