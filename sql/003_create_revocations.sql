-- 003_create_revocations.sql: why each token stopped being valid, one row per token.
CREATE TABLE revocations (
	token_id   uuid PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
	revoked_at timestamptz NOT NULL DEFAULT date_trunc('second', now()),
	reason     text NOT NULL CONSTRAINT revocations_reason_check
	           CHECK (reason IN ('requested', 'superseded', 'reuse_detected',
	                             'client_disabled')),
	-- The token that asked for it; NULL when tokenctl or tokend itself did.
	revoked_by uuid,
	request_id text
);
