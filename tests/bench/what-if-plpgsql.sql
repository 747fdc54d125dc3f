-- what-if-plpgsql.sql - a proposal measured, not adopted: the two SQL-language
-- functions that PostgreSQL 15 parses and plans again in every transaction
-- when PL/pgSQL calls them (token_is_valid: not inlinable, it has
-- sub-selects; tokend_scope_pick: not inlinable, it has a WITH), written
-- in PL/pgSQL, whose plans are cached per connection.  Same rule, same
-- results.  Applied to the benchmark's own database only:
--
--   tests/bench/run.sh --what-if tests/bench/what-if-plpgsql.sql
--
-- (results then go to the run directory, not to tests/bench/).
--
-- Adopted since as sql/013_cache_helper_plans.sql (with tokend_time_text
-- too, and sql/014 planning token_is_valid's lookups as index scans):
-- this file is the record of the measurement.  Applied to a database
-- of 014 or later it would undo 014's setting on token_is_valid.
CREATE OR REPLACE FUNCTION token_is_valid(t tokens) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN now() < t.valid_until
	   AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.token_id = t.id)
	   AND EXISTS (SELECT 1 FROM clients c
	               WHERE c.id = t.client_id AND c.disabled_at IS NULL)
	   AND (t.parent_id IS NULL OR EXISTS (
	        SELECT 1 FROM tokens p
	        WHERE p.id = t.parent_id
	          AND now() < p.valid_until
	          AND NOT EXISTS (SELECT 1 FROM revocations r
	                          WHERE r.token_id = p.id)));
END
$$;
CREATE OR REPLACE FUNCTION tokend_scope_pick(p_requested text, p_default text[],
                                  p_allowed text[], p_order text[])
RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	s text[] := CASE WHEN p_requested IS NULL THEN p_default
	                 ELSE string_to_array(p_requested, ' ') END;
BEGIN
	IF NOT (s <@ p_allowed) THEN
		RETURN NULL;
	END IF;
	RETURN ARRAY(SELECT d.x FROM (SELECT DISTINCT unnest(s) AS x) d
	             ORDER BY array_position(p_order, d.x) NULLS LAST, d.x);
END
$$;
