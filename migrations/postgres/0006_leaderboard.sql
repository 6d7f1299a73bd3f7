-- Leaderboards: the hire date decides who was employed for a whole period (an option).
ALTER TABLE employees ADD COLUMN hired_at BIGINT;
