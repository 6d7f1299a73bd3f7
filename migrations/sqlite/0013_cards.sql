-- Interactive cards jifen delivered, so a button press finds what its card shows.
CREATE TABLE cards (
    out_track_id TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    -- The group (openConversationId) it went to.
    space        TEXT NOT NULL,
    -- What it shows, e.g. the week's first day of an honor board.
    period       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

-- One 点赞 per person per card.
CREATE TABLE card_likes (
    out_track_id TEXT NOT NULL REFERENCES cards (out_track_id),
    userid       TEXT NOT NULL,
    liked_at     INTEGER NOT NULL,
    PRIMARY KEY (out_track_id, userid)
);
