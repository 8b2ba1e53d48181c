-- What the service read in each survey comment (language, sentiment, topics), and the reading that
-- opened or enriched a case. Both follow their survey or case when it is deleted (erasure).

CREATE TABLE comment_readings (
    survey_id       text        PRIMARY KEY REFERENCES surveys (survey_id) ON DELETE CASCADE,
    language        text,                                   -- en, de, zh; NULL: none of them
    language_source text        NOT NULL CHECK (language_source IN ('detected', 'traveller', 'none')),
    sentiment       text        NOT NULL CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    score           real        NOT NULL CHECK (score BETWEEN -1 AND 1),
    topics          text[]      NOT NULL DEFAULT '{}',
    reader          text        NOT NULL,                   -- which reader version read it
    read_at         timestamptz NOT NULL
);

-- A case's topics and the comment sentiment that opened it or was added to it later.
CREATE TABLE case_readings (
    case_id    text        PRIMARY KEY REFERENCES cases (case_id) ON DELETE CASCADE,
    survey_id  text        REFERENCES surveys (survey_id) ON DELETE SET NULL,
    sentiment  text        NOT NULL CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    score      real        NOT NULL CHECK (score BETWEEN -1 AND 1),
    topics     text[]      NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL
);
