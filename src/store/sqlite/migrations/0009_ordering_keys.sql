-- Ordering keys (SPEC 5.2), first part: a destination's `orderingKey` (RFC 9535 JSONPath) and
-- `maxInFlight`, and each log's key, evaluated once when the message is accepted. NULL: the
-- destination has no ordering key (strict FIFO); '' is the key of a payload without a value.
ALTER TABLE destinations ADD COLUMN ordering_key TEXT;
ALTER TABLE destinations ADD COLUMN max_in_flight INTEGER;
ALTER TABLE logs ADD COLUMN ordering_key TEXT;
