DROP INDEX profiles_image_stem;
ALTER TABLE profiles DROP COLUMN image_thumbhash;
ALTER TABLE profiles DROP COLUMN image_variants;
ALTER TABLE profiles DROP COLUMN image_stem;
