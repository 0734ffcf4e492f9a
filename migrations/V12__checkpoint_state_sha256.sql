-- The checkpoint's JSON state is checksummed like its artifact: `state_sha256` is the SHA-256 of the
-- state's text as PostgreSQL prints jsonb (canonical: keys ordered, one spelling per value), written
-- by save_checkpoint and checked when a worker loads the checkpoint and when it is resumed. Rows
-- written before have theirs computed here, so every row has one.
--
-- `corrupt_reason` is set by the worker that found the checkpoint unusable (a state or artifact that
-- does not match its SHA-256, a missing artifact): such a checkpoint is no longer resumable, and
-- `ktrdr ops retry` runs its operation again from scratch.
ALTER TABLE ktrdr.checkpoints ADD COLUMN state_sha256 text, ADD COLUMN corrupt_reason text;
UPDATE ktrdr.checkpoints SET state_sha256 = encode(sha256(convert_to(state::text, 'UTF8')), 'hex');
ALTER TABLE ktrdr.checkpoints ALTER COLUMN state_sha256 SET NOT NULL;
