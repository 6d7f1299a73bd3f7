-- Badges granted: once per person and badge, with why and (for HR's) by whom.
CREATE TABLE badges_granted (
    userid      TEXT NOT NULL REFERENCES employees(userid),
    badge_id    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (userid, badge_id)
);
