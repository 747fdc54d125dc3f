-- 011_create_audit_partitions.sql: the monthly partitions of token_events: made ahead, watched by readyz, dropped whole.
--
-- A partition holds one calendar month in UTC and is called
-- token_events_YYYY_MM.  "tokenctl migrate" and "tokenctl audit
-- partitions [--ahead N]" call tokend_audit_partitions(), which makes the
-- current month and the N next ones (3 by default) when missing; run the
-- latter monthly.  tokend_partition_ok() is false when the current or the
-- next month has no partition: /v1/readyz then reports degraded, at
-- least a month before an audit row (and so its request) could fail.
-- "tokenctl audit prune --before DATE" detaches and drops the partitions
-- that end on or before DATE: retention without a DELETE.

-- The partitions of token_events and the range of each, from the
-- catalog, whoever made them.  range_from and range_to are NULL for a
-- partition whose bounds are not two timestamps (DEFAULT, MINVALUE).
-- The bounds are printed and read back with the same settings, fixed
-- here.
CREATE FUNCTION tokend_audit_partition_list(
	OUT partition regclass, OUT range_from timestamptz, OUT range_to timestamptz)
RETURNS SETOF record
LANGUAGE sql STABLE
SET datestyle = 'ISO, YMD' SET timezone = 'UTC' AS $$
	SELECT c.oid::regclass, b[1]::timestamptz, b[2]::timestamptz
	FROM pg_inherits i
	JOIN pg_class c ON c.oid = i.inhrelid
	LEFT JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
	    '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS b ON true
	WHERE i.inhparent = 'token_events'::regclass
	ORDER BY 2, 1
$$;

-- Make the partition of the month holding p_month, unless a partition
-- already covers part of that month.  Returns its name, or NULL when
-- nothing was made.  The partition belongs to the owner of token_events
-- (the append-only trigger asks about that owner).
CREATE FUNCTION tokend_audit_partition_create(p_month date) RETURNS text
LANGUAGE plpgsql
SET datestyle = 'ISO, YMD' SET timezone = 'UTC' AS $$
DECLARE
	m     timestamp := date_trunc('month', p_month::timestamp);
	lo    timestamptz := m AT TIME ZONE 'UTC';
	hi    timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
	part  text := 'token_events_' || to_char(m, 'YYYY_MM');
	owner text := (SELECT pg_get_userbyid(relowner) FROM pg_class
	               WHERE oid = 'token_events'::regclass);
BEGIN
	IF EXISTS (SELECT 1 FROM tokend_audit_partition_list() p
	           WHERE p.range_from < hi AND p.range_to > lo) THEN
		RETURN NULL;
	END IF;
	EXECUTE format('CREATE TABLE %I PARTITION OF token_events'
	               ' FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
	IF owner <> current_user THEN
		EXECUTE format('ALTER TABLE %I OWNER TO %I', part, owner);
	END IF;
	RETURN part;
END
$$;

-- tokenctl migrate, tokenctl audit partitions: the current month and
-- the p_ahead next ones, each made when missing; returns the names of
-- the partitions made.  A partition's creation locks token_events for a
-- moment: lock_timeout keeps a long report from stalling tokend behind
-- it (try again later).
CREATE FUNCTION tokend_audit_partitions(p_ahead integer) RETURNS SETOF text
LANGUAGE plpgsql
SET lock_timeout = '10s' AS $$
DECLARE
	this timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
	made text;
BEGIN
	IF p_ahead IS NULL OR p_ahead < 0 OR p_ahead > 120 THEN
		RAISE EXCEPTION 'the months ahead must be between 0 and 120, not %',
		      coalesce(p_ahead::text, 'NULL')
		      USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Two at once would both find a month missing.
	PERFORM pg_advisory_xact_lock(hashtextextended('tokend_audit_partitions', 0));
	FOR i IN 0 .. p_ahead LOOP
		made := tokend_audit_partition_create(
		    (this + make_interval(months => i))::date);
		IF made IS NOT NULL THEN
			RETURN NEXT made;
		END IF;
	END LOOP;
END
$$;

-- /v1/readyz: do partitions cover the current month and the next one,
-- without a gap?  Reads the catalog only; runs as its owner, so the app
-- role needs EXECUTE on this function alone.
CREATE FUNCTION tokend_partition_ok() RETURNS boolean
LANGUAGE sql STABLE AS $$
	WITH RECURSIVE need AS (
		SELECT m AT TIME ZONE 'UTC' AS lo,
		       (m + interval '2 months') AT TIME ZONE 'UTC' AS hi
		FROM date_trunc('month', now() AT TIME ZONE 'UTC') AS m
	), covered (upto) AS (
		SELECT lo FROM need
		UNION
		SELECT p.range_to
		FROM covered c, tokend_audit_partition_list() p
		WHERE p.range_from <= c.upto AND p.range_to > c.upto
	)
	SELECT coalesce(max(upto) >= (SELECT hi FROM need), false) FROM covered
$$;

COMMENT ON FUNCTION tokend_partition_ok() IS
	'readyz: true when token_events has partitions for the current and the next month.';

-- tokenctl audit prune: detach and drop every partition that ends on or
-- before p_before, which must not be later than now(); returns each
-- partition dropped and the rows it held.  Never a DELETE.
CREATE FUNCTION tokend_audit_prune(p_before timestamptz,
	OUT partition text, OUT events bigint)
RETURNS SETOF record
LANGUAGE plpgsql
SET lock_timeout = '10s' AS $$
DECLARE
	p record;
BEGIN
	IF p_before IS NULL OR p_before > now() THEN
		RAISE EXCEPTION 'cannot prune audit rows of the future: % is later than now',
		      coalesce(p_before::text, 'NULL')
		      USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended('tokend_audit_partitions', 0));
	FOR p IN SELECT l.partition AS rel, l.partition::text AS name
	         FROM tokend_audit_partition_list() l
	         WHERE l.range_to <= p_before
	         ORDER BY l.range_from LOOP
		EXECUTE format('SELECT count(*) FROM %s', p.rel) INTO events;
		EXECUTE format('ALTER TABLE token_events DETACH PARTITION %s', p.rel);
		EXECUTE format('DROP TABLE %s', p.rel);
		partition := p.name;
		RETURN NEXT;
	END LOOP;
END
$$;

INSERT INTO tokend_grants (role, kind, object, privileges, why) VALUES
	('app', 'function', 'tokend_partition_ok()', 'EXECUTE', '/v1/readyz');

DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION tokend_audit_partition_list() SET search_path = %I, pg_temp',
	               current_schema());
	EXECUTE format('ALTER FUNCTION tokend_audit_partition_create(date) SET search_path = %I, pg_temp',
	               current_schema());
	EXECUTE format('ALTER FUNCTION tokend_audit_partitions(integer) SET search_path = %I, pg_temp',
	               current_schema());
	EXECUTE format('ALTER FUNCTION tokend_audit_prune(timestamptz) SET search_path = %I, pg_temp',
	               current_schema());
END
$$;

SELECT tokend_audit_partitions(3);
-- tokend_partition_ok() becomes SECURITY DEFINER here.
SELECT tokend_apply_grants();
