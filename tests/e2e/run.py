#!/usr/bin/python3
"""tokend end-to-end suite: the API contract through the web server.

Run with Debian's /usr/bin/python3 (stdlib + python3-jsonschema,
python3-psycopg2, python3-yaml).

Environment:
  TOKEND_BASE_URL            http://HOST:PORT/BASE_PATH (e.g. http://127.0.0.1:18080/v1)
  TOKEND_TEST_DATABASE_URL   libpq conninfo of a superuser on tokend's migrated database
  TOKENCTL                   tokenctl binary (optional; clients are made in SQL without it)
  TOKEND_OPENAPI             openapi.yaml (default ./openapi.yaml)
  TOKEND_LOG                 tokend's log file (optional; scanned for secrets and request ids)
  TOKEND_ROTATION_GRACE      tokend's rotation_grace_seconds (default 60)
  TOKEND_MAX_BODY_BYTES      tokend's max_body_bytes (default 16384)
  TOKEND_RETRY_AFTER         tokend's retry_after_seconds (default 1)
  TOKEND_RATE_LIMIT_BUDGET   tokend's rate_limit_budget (default 20).  Over loopback
                             the suite sends from many 127.x.y.z addresses, moving on
                             before one spends half the budget; elsewhere give tokend
                             a budget above the suite's failures (about 600)
  TOKEND_E2E_ALLOW_DB_STOP=1 and TOKEND_TEST_PGCTL="<command prefix>": run the 503
                             case, which runs "$TOKEND_TEST_PGCTL stop" and "... start"
Arguments:
  --full           heavier cases too
  -k SUBSTRING     only tests whose name contains SUBSTRING (repeatable)
Output: one line per test (`ok - name` / `not ok - name: reason`), then
`N passed, N failed`.  Exit 0 only when nothing failed.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("-k", action="append", default=[])
    args = ap.parse_args()

    try:
        import db as dbmod
        import harness
        import oas
        import tkclient
        # Test modules register their tests on import, in this order.
        import cases_auth      # noqa: F401
        import cases_policy    # noqa: F401
        import cases_rotation  # noqa: F401
        import cases_json      # noqa: F401
        import cases_routing   # noqa: F401
        import cases_global    # noqa: F401
    except ImportError as e:
        print("not ok - setup: %s (run with /usr/bin/python3; apt-get install python3-jsonschema "
              "python3-psycopg2 python3-yaml)" % e)
        print("0 passed, 1 failed")
        return 1

    base_url = os.environ.get("TOKEND_BASE_URL")
    dsn = os.environ.get("TOKEND_TEST_DATABASE_URL")
    if not base_url or not dsn:
        print("not ok - setup: TOKEND_BASE_URL and TOKEND_TEST_DATABASE_URL are required")
        print("0 passed, 1 failed")
        return 1
    spec_path = os.environ.get("TOKEND_OPENAPI")
    if not spec_path:
        spec_path = "openapi.yaml"
        if not os.path.exists(spec_path):       # run from elsewhere: the checkout's
            spec_path = os.path.join(HERE, "..", "..", "openapi.yaml")

    class Ctx:
        pass
    ctx = Ctx()
    ctx.full = args.full
    ctx.note = lambda s: print(s, flush=True)
    ctx.grace = int(os.environ.get("TOKEND_ROTATION_GRACE", "60"))
    ctx.max_body = int(os.environ.get("TOKEND_MAX_BODY_BYTES", "16384"))
    ctx.retry_after = int(os.environ.get("TOKEND_RETRY_AFTER", "1"))
    ctx.issued = []
    ctx.log_path = os.environ.get("TOKEND_LOG") or None
    ctx.log_offset = 0
    try:
        ctx.spec = oas.Spec(spec_path)
        ctx.http = tkclient.Client(base_url, ctx.spec)
        ctx.db = dbmod.DB(dsn)
        ctx.clients = dbmod.Clients(ctx.db, os.environ.get("TOKENCTL"), note=ctx.note)
        if ctx.log_path:
            if not os.path.exists(ctx.log_path):
                ctx.note("# TOKEND_LOG=%s does not exist; the log check is skipped" % ctx.log_path)
                ctx.log_path = None
            else:
                ctx.log_offset = os.path.getsize(ctx.log_path)
    except Exception as e:  # noqa: BLE001
        print("not ok - setup: %s: %s" % (type(e).__name__, e))
        print("0 passed, 1 failed")
        return 1
    try:
        ctx.http.post("/auth/tokens/short", body=b"", content_type=None)
    except (OSError, AssertionError) as e:
        print("not ok - setup: %s does not answer as tokend: %s" % (base_url, e))
        print("0 passed, 1 failed")
        return 1
    ctx.note("# tokend e2e: %s, clients made with %s, openapi %s%s"
             % (base_url, ctx.clients.mode, spec_path, ", --full" if args.full else ""))

    tests = [(n, f, final) for n, f, full, final in harness.TESTS
             if (args.full or not full) and (not args.k or any(k in n for k in args.k))]
    t0 = time.monotonic()
    res = harness.run(ctx, tests, out=lambda s: print(s, flush=True))
    ctx.note("# %d skipped; %.1f s; %d requests" % (res.skipped, time.monotonic() - t0, ctx.http.responses))
    print("%d passed, %d failed" % (res.passed, res.failed), flush=True)
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
