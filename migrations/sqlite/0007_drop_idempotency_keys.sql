-- Idempotency keys were created for an API that never used them; a write API that needs
-- them will bring a table of its own shape.
DROP TABLE idempotency_keys;
