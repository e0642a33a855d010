-- Every picture comes in renditions sharing one stem
-- (`<stem>-<width>.<ext>`, in the primary format and in WebP): the row
-- keeps the stem (indexed: `portrait check` finds a file's profile by
-- it), the renditions' sizes and the ThumbHash. `image` stays the name
-- of the rendition `image.url` shows. A picture stored before renditions
-- keeps its single file as its own stem, with no sizes, until
-- `portrait check --fix` makes its renditions.
ALTER TABLE profiles ADD COLUMN image_stem TEXT NOT NULL DEFAULT 'default';
ALTER TABLE profiles ADD COLUMN image_variants TEXT NOT NULL DEFAULT '';
ALTER TABLE profiles ADD COLUMN image_thumbhash TEXT;
UPDATE profiles SET image_stem = image WHERE image <> 'default.jpg';
CREATE INDEX profiles_image_stem ON profiles (image_stem);
