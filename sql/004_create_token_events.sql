-- 004_create_token_events.sql: the append-only audit trail of every state change.
CREATE TABLE token_events (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	occurred_at timestamptz NOT NULL DEFAULT date_trunc('second', now()),
	event       text NOT NULL CONSTRAINT token_events_event_check
	            CHECK (event IN ('issued', 'rotated', 'superseded', 'revoked',
	                             'reuse_detected', 'client_created',
	                             'client_changed', 'client_disabled',
	                             'client_enabled', 'key_rotated',
	                             'auth_failed')),
	client_id   uuid,
	token_id    uuid,
	token_kind  text CONSTRAINT token_events_token_kind_check
	            CHECK (token_kind IN ('long', 'short')),
	family_id   uuid,
	-- The long-term token a short one came from, or a successor's predecessor.
	parent_id   uuid,
	-- The token that made the request, when one did.
	actor_id    uuid,
	reason      text,
	request_id  text,
	remote_addr inet,
	-- auth_failed rows: how many failures, between first_at and last_at.
	count       integer CONSTRAINT token_events_count_check CHECK (count >= 1),
	first_at    timestamptz,
	last_at     timestamptz,
	detail      jsonb,
	CONSTRAINT token_events_auth_failed_check
		CHECK ((event = 'auth_failed') = (count IS NOT NULL))
);

CREATE INDEX token_events_client_idx ON token_events (client_id, occurred_at);
CREATE INDEX token_events_token_idx ON token_events (token_id) WHERE token_id IS NOT NULL;
CREATE INDEX token_events_family_idx ON token_events (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX token_events_occurred_idx ON token_events (occurred_at);

-- Append-only: nobody but the table's owner may change history.
CREATE FUNCTION token_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class
	                    WHERE oid = TG_RELID) THEN
		RAISE EXCEPTION 'token_events is append-only'
		      USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER token_events_append_only
	BEFORE UPDATE OR DELETE ON token_events
	FOR EACH ROW EXECUTE FUNCTION token_events_refuse_change();
