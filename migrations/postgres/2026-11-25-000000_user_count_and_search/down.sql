DROP INDEX profiles_image;
DROP INDEX users_username_trgm;
DROP TRIGGER user_count_delete ON users;
DROP TRIGGER user_count_insert ON users;
DROP FUNCTION user_count_deleted();
DROP FUNCTION user_count_inserted();
DROP TABLE user_count;
