-- Issue #13: call status callbacks go to the URL their flow or their
-- `POST /v1/calls` names, not to [events].url: each outbox row may carry
-- its own destination (NULL: [events].url, as before).
ALTER TABLE outbox ADD COLUMN url TEXT;
