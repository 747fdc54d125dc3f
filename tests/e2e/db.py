"""Database access for the end-to-end suite: clients, and rows to inspect."""
import os
import shlex
import subprocess
import threading
import uuid

import psycopg2
import psycopg2.extras

import tokfmt

psycopg2.extras.register_uuid()


class DB:
    def __init__(self, dsn):
        self.dsn = dsn
        self.conn = psycopg2.connect(dsn, application_name="tokend-e2e")
        self.conn.autocommit = True
        self._lock = threading.Lock()
        with self.conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")

    def reconnect(self):
        with self._lock:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = psycopg2.connect(self.dsn, application_name="tokend-e2e")
            self.conn.autocommit = True
            with self.conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")

    def all(self, sql, args=()):
        try:
            return self._all(sql, args)
        except psycopg2.OperationalError:
            if not self.conn.closed:
                raise
            self.reconnect()        # the server was restarted (503 case)
            return self._all(sql, args)

    def _all(self, sql, args):
        with self._lock, self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []

    def one(self, sql, args=()):
        rows = self.all(sql, args)
        if len(rows) != 1:
            raise AssertionError("expected one row of %r, got %d" % (sql, len(rows)))
        return rows[0]

    def val(self, sql, args=()):
        return self.one(sql, args)[0]

    def exec(self, sql, args=()):
        with self._lock, self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.rowcount

    # -- inspection ---------------------------------------------------------
    def token_row(self, token_id):
        with self._lock, self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT *, valid_until - rotated_at AS overlap, "
                        "token_is_valid(t) AS valid FROM tokens t WHERE id = %s",
                        (uuid.UUID(str(token_id)),))
            r = cur.fetchone()
            return dict(r) if r else None

    def revocation(self, token_id):
        with self._lock, self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT * FROM revocations WHERE token_id = %s", (uuid.UUID(str(token_id)),))
            r = cur.fetchone()
            return dict(r) if r else None

    def events(self, **where):
        conds, args = [], []
        for k, v in where.items():
            if isinstance(v, (str,)) and k.endswith("_id") and k != "request_id":
                v = uuid.UUID(v)
            conds.append("%s = %%s" % k)
            args.append(v)
        with self._lock, self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT * FROM token_events WHERE %s ORDER BY id"
                        % (" AND ".join(conds) or "true"), args)
            return [dict(r) for r in cur.fetchall()]

    def is_valid(self, token_id):
        return self.val("SELECT token_is_valid(t) FROM tokens t WHERE id = %s",
                        (uuid.UUID(str(token_id)),))


class Clients:
    """Makes clients: with tokenctl when $TOKENCTL works, else in SQL."""

    def __init__(self, db, tokenctl=None, note=print):
        self.db = db
        self.tokenctl = None
        self.mode = "sql"
        self.note = note
        self.created = []
        if tokenctl:
            if os.path.isfile(tokenctl) and os.access(tokenctl, os.X_OK):
                try:
                    self.tokenctl = tokenctl
                    self._create_tokenctl("e2e-probe-" + os.urandom(4).hex(), ["read"], ["read"])
                    self.mode = "tokenctl"
                except Exception as e:  # fall back, say why
                    self.tokenctl = None
                    note("# TOKENCTL=%s does not work (%s); clients are made in SQL" % (tokenctl, e))
            else:
                note("# TOKENCTL=%s is not an executable file; clients are made in SQL" % tokenctl)

    def run_tokenctl(self, *args, check=True):
        cmd = [self.tokenctl, "--admin-database-url", self.db.dsn] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if check and p.returncode != 0:
            raise RuntimeError("%s exited %d: %s" % (" ".join(shlex.quote(c) for c in cmd[:1] + list(args)),
                                                     p.returncode, p.stderr.decode(errors="replace").strip()))
        return p

    def _create_tokenctl(self, name, scopes, default_scopes):
        p = self.run_tokenctl("client", "create", "--name", name, "--scope", " ".join(scopes),
                              "--default-scope", " ".join(default_scopes))
        out = p.stdout.decode()
        cid = key = None
        for line in out.splitlines():
            if line.startswith("client_id: "):
                cid = line.split(": ", 1)[1].strip()
            elif line.startswith("client_key: "):
                key = line.split(": ", 1)[1].strip()
        if not cid or not key or not tokfmt.is_well_formed(key):
            raise RuntimeError("unexpected output %r" % out)
        if tokfmt.TOKEN_SEARCH_RE.search(p.stderr.decode(errors="replace")):
            raise RuntimeError("tokenctl printed a secret on stderr")
        return cid, key

    def create(self, name=None, scopes=("read", "write", "tokend:rotate", "tokend:revoke"),
               default_scopes=("read",), **policy):
        """A new client; returns dict(id, key, name, scopes, default_scopes).
        policy: column=value for clients (long_ttl_max, overlap_max, ...),
        set in SQL after creation."""
        name = name or "e2e-" + os.urandom(4).hex()
        scopes, default_scopes = list(scopes), list(default_scopes)
        if self.mode == "tokenctl":
            cid, key = self._create_tokenctl(name, scopes, default_scopes)
        else:
            cid = str(uuid.uuid4())
            key = tokfmt.mint("client", cid)
            self.db.exec(
                "INSERT INTO clients (id, name, key_digest, scopes, default_scopes) "
                "VALUES (%s, %s, %s, %s, %s)",
                (uuid.UUID(cid), name, psycopg2.Binary(tokfmt.digest(key)), scopes, default_scopes))
        if policy:
            self.set_policy(cid, **policy)
        c = {"id": cid, "key": key, "name": name, "scopes": scopes,
             "default_scopes": default_scopes}
        self.created.append(c)
        return c

    def set_policy(self, cid, **policy):
        allowed = {"long_ttl_default", "long_ttl_max", "short_ttl_default", "short_ttl_max",
                   "overlap_max", "family_max_seconds", "scopes", "default_scopes",
                   "disabled_at", "prev_key_digest", "prev_key_valid_until"}
        cols = []
        args = []
        for k in policy:
            if k not in allowed:
                raise ValueError(k)
            cols.append("%s = %%s" % k)
            args.append(policy[k])
        # A lowered maximum lowers its default (CHECK default <= max).
        for kind in ("long", "short"):
            mx, df = "%s_ttl_max" % kind, "%s_ttl_default" % kind
            if mx in policy and df not in policy:
                cols.append("%s = least(%s, %%s)" % (df, df))
                args.append(policy[mx])
        args.append(uuid.UUID(cid))
        self.db.exec("UPDATE clients SET %s WHERE id = %%s" % ", ".join(cols), args)

    def disable(self, cid):
        """Disable the client: tokenctl client disable when available, else SQL."""
        if self.mode == "tokenctl":
            self.run_tokenctl("client", "disable", cid)
            return "tokenctl"
        self.db.exec("UPDATE clients SET disabled_at = date_trunc('second', now()) WHERE id = %s",
                     (uuid.UUID(cid),))
        return "sql"

    def enable(self, cid):
        if self.mode == "tokenctl":
            self.run_tokenctl("client", "enable", cid)
            return "tokenctl"
        self.db.exec("UPDATE clients SET disabled_at = NULL WHERE id = %s", (uuid.UUID(cid),))
        return "sql"
