#!/usr/bin/python3
"""Run ftpmirror's integration tests.

    /usr/bin/python3 tests/integration/run.py --binary build/ftpmirror-san [-k PATTERN] [-x]

Runs every test_*.py module in this directory (stdlib unittest) against real
FTP servers on 127.0.0.1 and ends with exactly one summary line:

    integration: N passed, N failed[, N skipped]

Exit status: 0 when nothing failed and something passed, 1 otherwise, 2 for
bad arguments, 130 when interrupted.  Whatever happens, every server and
every ftpmirror process started by the tests is stopped before exiting.
Set FTPMIRROR_IT_KEEP=1 to keep each test's temporary directory.
"""

import argparse
import fnmatch
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no __pycache__ in the source tree

import helpers  # noqa: E402
import servers  # noqa: E402


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def select(suite, patterns):
    """Tests whose id contains one of patterns (or matches it as a glob)."""
    if not patterns:
        return suite
    chosen = [t for t in iter_tests(suite)
              if any(p in t.id() or fnmatch.fnmatchcase(t.id(), p) for p in patterns)]
    return unittest.TestSuite(chosen)


def main():
    ap = argparse.ArgumentParser(description="ftpmirror integration tests")
    ap.add_argument("--binary", required=True, help="ftpmirror executable to test")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="run only tests whose id contains PATTERN (repeatable)")
    ap.add_argument("-x", "--failfast", action="store_true", help="stop at the first failure")
    args = ap.parse_args()

    binary = os.path.abspath(args.binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print("integration: %s is not an executable file (build it first)" % args.binary)
        return 2
    os.environ["FTPMIRROR_BIN"] = binary

    # Orphans of servers are re-parented to us and reaped (PID 1 won't).
    helpers.become_subreaper()

    # SIGINT (even if inherited as ignored), SIGTERM and SIGHUP: stop the
    # servers and ftpmirror processes, remove temporary files, then exit.
    def interrupt(signo, _frame):
        raise KeyboardInterrupt("signal %d" % signo)
    for signo in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signo, interrupt)

    loader = unittest.TestLoader()
    suite = select(loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE), args.patterns)

    result = unittest.TextTestResult(unittest.runner._WritelnDecorator(sys.stdout),
                                     descriptions=False, verbosity=2)
    result.failfast = args.failfast
    interrupted = False
    start = time.monotonic()
    result.startTestRun()
    try:
        suite.run(result)
    except KeyboardInterrupt:
        interrupted = True
        print("\nintegration: interrupted")
    finally:
        result.stopTestRun()
        servers.stop_all()
        helpers.kill_all()
        helpers.remove_tmpdirs()
    result.printErrors()

    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped - len(result.expectedFailures)
    if interrupted:
        failed += 1   # the test that was running
        passed = max(0, passed - 1)
    print("\nran %d tests in %.1fs" % (result.testsRun, time.monotonic() - start))
    summary = "integration: %d passed, %d failed" % (passed, failed)
    if skipped:
        summary += ", %d skipped" % skipped
    print(summary)
    sys.stdout.flush()
    if interrupted:
        return 130
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
