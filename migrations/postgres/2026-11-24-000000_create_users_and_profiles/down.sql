DROP TABLE profiles;
DROP TABLE users;
