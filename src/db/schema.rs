//! The tables, as diesel sees them. One schema serves both backends, so it
//! names only SQL types that SQLite and PostgreSQL share (BigInt, Integer,
//! Text, Bool, Timestamp). It must not drift from `migrations/`: a change
//! there is a new migration plus an edit here.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        username_normalized -> Text,
        email -> Text,
        email_normalized -> Text,
        password_hash -> Text,
        is_active -> Bool,
        is_staff -> Bool,
        is_superuser -> Bool,
        date_joined -> Timestamp,
        last_login -> Nullable<Timestamp>,
        token_version -> BigInt,
        email_verified -> Bool,
    }
}

diesel::table! {
    profiles (id) {
        id -> BigInt,
        user_id -> BigInt,
        image -> Text,
        image_width -> Integer,
        image_height -> Integer,
        bio -> Text,
        updated_at -> Timestamp,
        image_stem -> Text,
        image_variants -> Text,
        image_thumbhash -> Nullable<Text>,
    }
}

// Kept by triggers (migration 2026-11-25): the number of users.
diesel::table! {
    user_count (id) {
        id -> BigInt,
        n -> BigInt,
    }
}

// Migration 2026-11-29: sessions (refresh token families) and email tokens.
diesel::table! {
    refresh_tokens (jti) {
        jti -> Text,
        family -> Text,
        user_id -> BigInt,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_tokens (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        purpose -> Text,
        email_normalized -> Text,
        token_version -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    admin_sessions (key_hash) {
        key_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        token_version -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    admin_log (id) {
        id -> BigInt,
        action_time -> Timestamp,
        actor_id -> Nullable<BigInt>,
        actor_username -> Text,
        object_id -> BigInt,
        object_repr -> Text,
        action -> Text,
        change_message -> Text,
    }
}

// PostgreSQL only, kept by triggers (migration 2026-12-01): one row per
// distinct three-character substring of a normalised username.
diesel::table! {
    username_trigrams (trigram, user_id) {
        trigram -> Text,
        user_id -> BigInt,
    }
}

// PostgreSQL only, kept by triggers on username_trigrams: how many users
// hold each trigram.
diesel::table! {
    username_trigram_counts (trigram) {
        trigram -> Text,
        n -> BigInt,
    }
}

// Kept by triggers (migration 2026-12-02): one row per
// distinct five-character substring of a normalised username.
diesel::table! {
    username_fivegrams (fivegram, user_id) {
        fivegram -> Text,
        user_id -> BigInt,
    }
}

// Kept by triggers on username_fivegrams: how many users
// hold each five-character piece.
diesel::table! {
    username_fivegram_counts (fivegram) {
        fivegram -> Text,
        n -> BigInt,
    }
}

diesel::joinable!(profiles -> users (user_id));
diesel::joinable!(admin_sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(email_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    profiles,
    refresh_tokens,
    email_tokens,
    admin_sessions,
    admin_log,
    username_trigrams,
    username_trigram_counts,
    username_fivegrams,
    username_fivegram_counts
);
