DROP INDEX profiles_image;
DROP TRIGGER users_search_update;
DROP TRIGGER users_search_delete;
DROP TRIGGER users_search_insert;
DROP TABLE users_search;
DROP TRIGGER user_count_delete;
DROP TRIGGER user_count_insert;
DROP TABLE user_count;
