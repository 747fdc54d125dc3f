-- 004_create_token_events.sql: the append-only audit trail of every state change, partitioned by month.
--
-- One partition per calendar month (UTC), named token_events_YYYY_MM,
-- made by tokend_audit_partitions() (sql/011): "tokenctl migrate" makes
-- the current month and the next three, "tokenctl audit partitions"
-- (monthly, from cron) keeps them ahead.  There is deliberately no
-- DEFAULT partition: a row in it would make the later creation of its
-- month fail, so a row outside every partition is refused instead (and
-- /v1/readyz reports degraded a month before that can happen, through
-- tokend_partition_ok()).  Retention drops whole partitions ("tokenctl
-- audit prune"), never rows.
CREATE TABLE token_events (
	id          bigint GENERATED ALWAYS AS IDENTITY,
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
	-- A key of a partitioned table holds the partition key.
	CONSTRAINT token_events_pkey PRIMARY KEY (id, occurred_at),
	CONSTRAINT token_events_auth_failed_check
		CHECK ((event = 'auth_failed') = (count IS NOT NULL))
) PARTITION BY RANGE (occurred_at);

CREATE INDEX token_events_client_idx ON token_events (client_id, occurred_at);
CREATE INDEX token_events_token_idx ON token_events (token_id) WHERE token_id IS NOT NULL;
CREATE INDEX token_events_family_idx ON token_events (family_id) WHERE family_id IS NOT NULL;
CREATE INDEX token_events_occurred_idx ON token_events (occurred_at);

-- Append-only: nobody but the owner of the table may change history.  The
-- trigger runs on a partition; the owner asked about is the partitioned
-- table's, whoever made the partition.
CREATE FUNCTION token_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class
	                    WHERE oid = coalesce(pg_partition_root(TG_RELID),
	                                         TG_RELID)) THEN
		RAISE EXCEPTION 'token_events is append-only'
		      USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TRIGGER token_events_append_only
	BEFORE UPDATE OR DELETE ON token_events
	FOR EACH ROW EXECUTE FUNCTION token_events_refuse_change();

-- TRUNCATE fires no row trigger: refuse it on the table as a whole too.
-- (A partition truncated by name is kept by privileges alone: nobody but
-- the owner holds TRUNCATE.)
CREATE TRIGGER token_events_no_truncate
	BEFORE TRUNCATE ON token_events
	FOR EACH STATEMENT EXECUTE FUNCTION token_events_refuse_change();
