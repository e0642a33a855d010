DROP TRIGGER username_fivegrams_rename;
DROP TRIGGER username_fivegrams_delete;
DROP TRIGGER username_fivegrams_insert;
DROP TRIGGER username_fivegram_counts_delete;
DROP TRIGGER username_fivegram_counts_insert;
DROP TABLE username_fivegram_counts;
DROP TABLE username_fivegrams;
DROP TABLE username_positions;
