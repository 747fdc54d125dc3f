-- 010_create_role_grants.sql: what tokend_app and tokend_auditor may do, granted to the roles "tokenctl setup-roles" recorded.
--
-- Migrations never create roles.  "tokenctl setup-roles" (run once by a
-- DBA with CREATEROLE) creates the owner, app and auditor roles, records
-- their names in tokend_roles, gives the owner every tokend object and
-- calls tokend_apply_grants().  Until it has run, tokend_roles is empty
-- and tokend_apply_grants() does nothing: everything keeps working for a
-- single role (the test harness runs as a superuser).
--
-- The request functions run as their owner (SECURITY DEFINER, with a
-- fixed search_path), so the app role holds EXECUTE on them and nothing
-- on the tables but INSERT and SELECT on token_events (the flushed
-- failure counts, lib/tk_abuse.c): it can read no digest, and so cannot
-- turn a digest into a token without the secret it came from.

-- The roles of this database.  setup-roles may have made the table
-- before the first migration, with this same definition (lib/tk_ctl.c).
DO $$
BEGIN
	IF to_regclass('tokend_roles') IS NULL THEN
		CREATE TABLE tokend_roles (
			role   text PRIMARY KEY
			       CONSTRAINT tokend_roles_role_check
			       CHECK (role IN ('owner', 'app', 'auditor')),
			name   text NOT NULL CONSTRAINT tokend_roles_name_key UNIQUE,
			set_at timestamptz NOT NULL DEFAULT date_trunc('second', now())
		);
	END IF;
END
$$;

-- Every privilege of the app and auditor roles, one row per object; a
-- migration that adds an object they need adds its row here and calls
-- tokend_apply_grants().  UPDATE and DELETE cannot be granted.
CREATE TABLE tokend_grants (
	role       text NOT NULL CONSTRAINT tokend_grants_role_check
	           CHECK (role IN ('app', 'auditor')),
	kind       text NOT NULL CONSTRAINT tokend_grants_kind_check
	           CHECK (kind IN ('function', 'table')),
	-- A function's signature, "name(type, ...)", or a table or view name.
	object     text NOT NULL,
	-- EXECUTE for a function; for a table SELECT and INSERT, each with an
	-- optional column list: "INSERT, SELECT", "SELECT (id, valid_until)".
	privileges text NOT NULL,
	why        text NOT NULL,
	CONSTRAINT tokend_grants_pkey PRIMARY KEY (role, kind, object),
	CONSTRAINT tokend_grants_privileges_check CHECK (
		(kind = 'function' AND privileges = 'EXECUTE')
		OR (kind = 'table' AND privileges ~
		    '^(SELECT|INSERT)( \([a-z_]+(, [a-z_]+)*\))?(, (SELECT|INSERT)( \([a-z_]+(, [a-z_]+)*\))?)*$'))
);

-- Apply the privilege model.  First, always: every function the app may
-- run runs as its owner (SECURITY DEFINER) with the search_path fixed to
-- this schema, pg_temp last, so that no object of the caller's can
-- stand in for a table (CREATE OR REPLACE FUNCTION drops both: a
-- migration that replaces a request function calls this again).  Then,
-- when setup-roles has recorded the roles, idempotently: every tokend
-- object of the schema (extension members aside) is taken from PUBLIC,
-- the app and the auditor, and tokend_grants is granted again, so a row
-- removed is a privilege removed.  Objects the caller owns pass to the
-- owner role (a superuser who ran a migration after setup-roles).
CREATE FUNCTION tokend_apply_grants() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	sch     oid := (SELECT relnamespace FROM pg_class
	                WHERE oid = 'tokend_roles'::regclass);
	r_owner text := (SELECT name FROM tokend_roles WHERE role = 'owner');
	r_app   text := (SELECT name FROM tokend_roles WHERE role = 'app');
	r_aud   text := (SELECT name FROM tokend_roles WHERE role = 'auditor');
	o       record;
	target  text;
BEGIN
	FOR o IN SELECT g.object, to_regprocedure(g.object) AS fn
	         FROM tokend_grants g
	         WHERE g.role = 'app' AND g.kind = 'function' LOOP
		IF o.fn IS NULL THEN
			RAISE EXCEPTION 'tokend_grants names function %, which does not exist',
			      o.object;
		END IF;
		EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = %I, pg_temp',
		               o.fn, (SELECT nspname FROM pg_namespace WHERE oid = sch));
	END LOOP;
	IF r_owner IS NULL OR r_app IS NULL OR r_aud IS NULL THEN
		RETURN;
	END IF;
	IF current_user <> r_owner THEN
		FOR o IN
			SELECT c.oid::regclass AS rel,
			       CASE c.relkind WHEN 'S' THEN 'SEQUENCE'
			                      WHEN 'v' THEN 'VIEW'
			                      WHEN 'm' THEN 'MATERIALIZED VIEW'
			                      ELSE 'TABLE' END AS what
			FROM pg_class c
			WHERE c.relnamespace = sch
			  AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
			  AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
			  -- Not an extension's; a sequence of a column follows its table.
			  AND NOT EXISTS (SELECT 1 FROM pg_depend d
			                  WHERE d.classid = 'pg_class'::regclass
			                    AND d.objid = c.oid
			                    AND (d.deptype = 'e'
			                         OR (c.relkind = 'S' AND d.deptype IN ('i', 'a'))))
		LOOP
			EXECUTE format('ALTER %s %s OWNER TO %I', o.what, o.rel, r_owner);
		END LOOP;
		FOR o IN
			SELECT p.oid::regprocedure AS fn FROM pg_proc p
			WHERE p.pronamespace = sch
			  AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
			  AND NOT EXISTS (SELECT 1 FROM pg_depend d
			                  WHERE d.classid = 'pg_proc'::regclass
			                    AND d.objid = p.oid AND d.deptype = 'e')
		LOOP
			EXECUTE format('ALTER ROUTINE %s OWNER TO %I', o.fn, r_owner);
		END LOOP;
	END IF;

	FOR o IN
		SELECT c.oid::regclass AS rel FROM pg_class c
		WHERE c.relnamespace = sch AND c.relkind IN ('r', 'p', 'v', 'm')
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
		                  WHERE d.classid = 'pg_class'::regclass
		                    AND d.objid = c.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('REVOKE ALL ON TABLE %s FROM PUBLIC, %I, %I',
		               o.rel, r_app, r_aud);
	END LOOP;
	FOR o IN
		SELECT p.oid::regprocedure AS fn FROM pg_proc p
		WHERE p.pronamespace = sch
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
		                  WHERE d.classid = 'pg_proc'::regclass
		                    AND d.objid = p.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('REVOKE ALL ON ROUTINE %s FROM PUBLIC, %I, %I',
		               o.fn, r_app, r_aud);
	END LOOP;
	-- (PUBLIC has USAGE on schema public; another schema is granted.)
	IF NOT has_schema_privilege(r_app, sch, 'USAGE')
	   OR NOT has_schema_privilege(r_aud, sch, 'USAGE') THEN
		EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, %I',
		               (SELECT nspname FROM pg_namespace WHERE oid = sch),
		               r_app, r_aud);
	END IF;

	FOR o IN SELECT * FROM tokend_grants ORDER BY role, kind, object LOOP
		target := CASE o.role WHEN 'app' THEN r_app ELSE r_aud END;
		IF o.kind = 'function' THEN
			IF to_regprocedure(o.object) IS NULL THEN
				RAISE EXCEPTION 'tokend_grants names function %, which does not exist',
				      o.object;
			END IF;
			EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I',
			               to_regprocedure(o.object), target);
		ELSE
			IF to_regclass(o.object) IS NULL THEN
				RAISE EXCEPTION 'tokend_grants names relation %, which does not exist',
				      o.object;
			END IF;
			EXECUTE format('GRANT %s ON TABLE %s TO %I',
			               o.privileges, to_regclass(o.object), target);
		END IF;
	END LOOP;
END
$$;

COMMENT ON FUNCTION tokend_apply_grants() IS
	'Grant tokend_grants to the roles of tokend_roles; nothing before tokenctl setup-roles.';

-- The request functions of tokend (sql/006, sql/008) run as their owner.
INSERT INTO tokend_grants (role, kind, object, privileges, why) VALUES
	('app', 'function',
	 'tokend_issue_long(uuid, uuid, bytea, uuid, bytea, text, integer, text, text, inet)',
	 'EXECUTE', 'POST /long, client_credentials'),
	('app', 'function',
	 'tokend_rotate(uuid, uuid, bytea, uuid, bytea, uuid, uuid, bytea, text, integer, integer, integer, text, text, inet)',
	 'EXECUTE', 'POST /long, rotate'),
	('app', 'function',
	 'tokend_issue_short(uuid, bytea, uuid, bytea, text, integer, text, text, inet)',
	 'EXECUTE', 'POST /short'),
	('app', 'function',
	 'tokend_revoke(text, uuid, bytea, uuid, text, inet)',
	 'EXECUTE', 'POST /{tokenId}/revoke'),
	('app', 'function', 'tokend_check_short(uuid, bytea)',
	 'EXECUTE', 'the FastCGI authorizer'),
	('app', 'function', 'tokend_introspect(uuid, bytea, uuid, bytea)',
	 'EXECUTE', 'POST /introspect'),
	('app', 'table', 'token_events', 'INSERT, SELECT',
	 'the flushed failure counts (lib/tk_abuse.c); append-only');

DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION tokend_apply_grants() SET search_path = %I, pg_temp',
	               current_schema());
END
$$;

-- The request functions become SECURITY DEFINER here.
SELECT tokend_apply_grants();
