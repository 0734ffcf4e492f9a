-- Artifacts (trained models, checkpoints) kept in the database, for workers on hosts without a
-- shared filesystem. The directory backend (KTRDR_ARTIFACTS_PATH) keeps them as files instead.
CREATE TABLE ktrdr.artifacts (
    key        text PRIMARY KEY,
    content    bytea NOT NULL,
    sha256     text NOT NULL,
    size_bytes bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
