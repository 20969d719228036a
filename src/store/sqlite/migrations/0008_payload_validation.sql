-- Payload validation (SPEC 2.2): each source's policy, and the problems a `warn` source's
-- message had, kept with the message (shown in each of its logs' detail). NULL: none.
ALTER TABLE sources ADD COLUMN validation TEXT NOT NULL DEFAULT 'strict';
ALTER TABLE messages ADD COLUMN problems TEXT;
