-- The hosted sandbox checkout page finds a session by its unguessable id alone (the id is the
-- capability); the primary key starts with tenant_id, so the lookup needs its own index.
CREATE INDEX checkout_sessions_by_id ON checkout_sessions (id);
