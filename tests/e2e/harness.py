"""Test registry and runner.

A test is a function f(ctx).  It passes when it returns, fails on an
exception (AssertionError's message is the reason), and is skipped on
Skip.  A test that must let time pass is a generator: `yield 2.1` means
"resume me in 2.1 s"; the runner runs other tests meanwhile, so the
suite's wall time is not the sum of its sleeps.
"""
import heapq
import itertools
import time
import traceback
import types

TESTS = []


class Skip(Exception):
    pass


def test(name, full=False, final=False):
    """Register f as a test.  full: only with --full.  final: run after
    every other test has finished (for whole-run checks)."""
    def deco(f):
        TESTS.append((name, f, full, final))
        return f
    return deco


class Result:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []


def _reason(e):
    if isinstance(e, AssertionError):
        msg = str(e) or "assertion failed"
        tb = traceback.extract_tb(e.__traceback__)
        # Point at the line of the test module that failed.
        for fr in reversed(tb):
            if "/cases_" in fr.filename:
                msg += " [%s:%d]" % (fr.filename.rsplit("/", 1)[-1], fr.lineno)
                break
        return msg
    return "%s: %s | %s" % (type(e).__name__, e,
                            " <- ".join("%s:%d" % (f.filename.rsplit("/", 1)[-1], f.lineno)
                                        for f in list(reversed(traceback.extract_tb(e.__traceback__)))[:4]))


def run(ctx, tests, out=print, only=None):
    res = Result()
    order = itertools.count()
    waiting = []            # heap of (wake, seq, name, gen)
    todo = [(n, f) for n, f, final in tests if not final]
    finals = [(n, f) for n, f, final in tests if final]

    def finish(name, exc=None):
        if exc is None:
            res.passed += 1
            out("ok - %s" % name)
        elif isinstance(exc, Skip):
            res.skipped += 1
            out("ok - %s # SKIP %s" % (name, exc))
        else:
            res.failed += 1
            reason = _reason(exc).replace("\n", " ")
            res.failures.append((name, reason))
            out("not ok - %s: %s" % (name, reason))

    def step(name, gen):
        try:
            delay = next(gen)
        except StopIteration:
            finish(name)
            return
        except BaseException as e:  # noqa: BLE001 - report, go on
            if isinstance(e, KeyboardInterrupt):
                raise
            finish(name, e)
            return
        heapq.heappush(waiting, (time.monotonic() + float(delay or 0), next(order), name, gen))

    in_finals = False
    while todo or waiting or finals:
        if not todo and not waiting:
            todo, finals, in_finals = finals, [], True
        now = time.monotonic()
        if waiting and waiting[0][0] <= now:
            _, _, name, gen = heapq.heappop(waiting)
            step(name, gen)
            continue
        # Final tests run one at a time (one may stop the database).
        if todo and not (in_finals and waiting):
            name, f = todo.pop(0)
            try:
                r = f(ctx)
            except BaseException as e:  # noqa: BLE001
                if isinstance(e, KeyboardInterrupt):
                    raise
                finish(name, e)
                continue
            if isinstance(r, types.GeneratorType):
                step(name, r)
            else:
                finish(name)
            continue
        time.sleep(max(0.0, waiting[0][0] - time.monotonic()))
    return res
