-- The device-list stream of each converter ghost that has announced a change (docs/converter-e2ee.md).
-- A ghost has no devices; its stream position lets Matrix servers apply each announcement as an
-- update that follows the last one (prev_id) instead of re-fetching an unchanged, empty list.
CREATE TABLE ghost_device_streams (
  user_id TEXT PRIMARY KEY,
  stream_id INTEGER NOT NULL   -- 0 before the first announcement; +1 per announcement
);
