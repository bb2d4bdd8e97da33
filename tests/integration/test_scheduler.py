"""Scheduler and operations (issue 6) against a real pyftpdlib server:
`due`, the `run` daemon (signals, reload, back-off), `status`, `show`,
Prometheus metrics, the database views and event retention, log priorities
and verbosity, and the progress line on a terminal."""

import datetime
import fcntl
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import helpers
import servers
from helpers import content

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# One sample of the Prometheus text format: name{labels} value
PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\} '
                       r'(\S+)$')
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
MTIME = 1700000000


def iso_to_epoch(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def cron_not_now():
    """A daily cron line whose minute is far from the current one."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return "%d %d * * *" % ((now.minute + 30) % 60, (now.hour + 12) % 24)


def parse_metrics(text):
    """[(name, {label: value}, float)] of every sample; raises on a bad line."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = PROM_LINE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        labels = dict(PROM_LABEL.findall(m.group(2)))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def dead_port():
    """A port on 127.0.0.1 where nothing listens."""
    port = helpers.ports.port()
    s = socket.socket()
    try:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError("port %d unexpectedly in use" % port)
    finally:
        s.close()
    return port


class SchedulerBase(helpers.IntegrationTest):
    """A jobs directory, a state database and ways to run ftpmirror."""

    def setUp(self):
        super().setUp()
        self.jobs_dir = self.path("jobs.d")
        os.makedirs(self.jobs_dir)
        self.db = self.path("state.db")

    # --- setup ------------------------------------------------------------

    def upstream(self, name, files):
        """An upstream directory: files {rel: bytes}, mtime MTIME."""
        root = self.path("upstream", name)
        helpers.write_tree(root, {rel: (data, MTIME) for rel, data in files.items()})
        return root

    def server(self, root, throttle=0):
        return servers.start_for(self, "pyftpdlib", root, throttle=throttle)

    def target(self, name):
        return self.path("mirrors", name)

    def incoming(self, name):
        return self.path("mirrors", ".%s.incoming" % name)

    def write_job(self, name, source, file_name=None, **keys):
        """jobs.d/NAME.yaml (or file_name); target mirrors/NAME."""
        lines = ["name: %s" % helpers.yaml_scalar(name),
                 "source: %s" % helpers.yaml_scalar(source),
                 "target: %s" % helpers.yaml_scalar(self.target(name))]
        for key, value in keys.items():
            lines.append("%s: %s" % (key, helpers.yaml_scalar(value)))
        path = os.path.join(self.jobs_dir, file_name or "%s.yaml" % name)
        tmp = path + ".tmp~"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
        return path

    def write_raw(self, file_name, text):
        path = os.path.join(self.jobs_dir, file_name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    # --- running ------------------------------------------------------------

    def env(self, **extra):
        env = dict(os.environ)
        env["HOME"] = self.tmp
        env["FTPMIRROR_DB"] = self.db
        env["FTPMIRROR_JOBS_DIR"] = self.jobs_dir
        env.pop("JOURNAL_STREAM", None)
        env.pop("FTPMIRROR_METRICS_FILE", None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(extra)
        return env

    def argv(self, *args):
        return [helpers.binary(), "--db", self.db] + list(args)

    def ftpmirror(self, *args, timeout=30, env=None):
        return helpers.run_command(self.argv(*args), timeout=timeout,
                                   env=env or self.env(), cwd=self.tmp)

    def start_daemon(self, *args):
        """`ftpmirror run ARGS` in the background, output to files."""
        self.daemon_out = self.path("daemon.stdout")
        self.daemon_err = self.path("daemon.stderr")
        with open(self.daemon_out, "wb") as o, open(self.daemon_err, "wb") as e:
            proc = helpers.spawn(self.argv("run", *args), stdout=o, stderr=e,
                                 env=self.env(), cwd=self.tmp)
        self.addCleanup(helpers.stop_process, proc, 2.0)
        return proc

    def daemon_log(self):
        with open(self.daemon_err, "r", errors="replace") as f:
            return f.read()

    def stop_daemon(self, proc, limit=5.0):
        """SIGTERM to the daemon alone; (exit status, seconds) or fails."""
        start = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rows = self.query("SELECT id, job, status, started_at, finished_at FROM runs")
            helpers.stop_process(proc, grace=0.5, sig=signal.SIGKILL)
            self.fail("ftpmirror run did not exit within %.0fs of SIGTERM\nruns: %s\n"
                      "--- stderr ---\n%s" % (limit, rows, self.daemon_log()[-4000:]))
        return rc, time.monotonic() - start

    def assertMirrored(self, upstream, target):
        """target holds exactly the upstream tree (bytes, mtimes), beside
        ftpmirror's own top-level `.ftpmirror/` (its trace file), which
        is not this file's subject."""
        actual = {rel: e for rel, e in helpers.snapshot(target).items()
                  if rel != ".ftpmirror" and not rel.startswith(".ftpmirror/")}
        problems = helpers.tree_differences(helpers.snapshot(upstream), actual)
        if problems:
            self.fail("%s is not an exact copy of %s:\n  %s"
                      % (target, upstream, "\n  ".join(problems[:40])))

    # --- database -----------------------------------------------------------

    def query(self, sql, params=()):
        return helpers.query_db(self.db, sql, params)

    def execute(self, sql, params=()):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            con.execute(sql, params)
            con.commit()
        finally:
            con.close()

    def runs(self, job=None):
        if job is None:
            return self.query("SELECT * FROM runs ORDER BY id")
        return self.query("SELECT * FROM runs WHERE job = ? ORDER BY id", (job,))

    def wait_for(self, what, predicate, timeout, context=lambda: ""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = predicate()
            except sqlite3.OperationalError as e:
                # The daemon made the file, its schema not committed yet.
                if "no such table" not in str(e):
                    raise
                value = None
            if value:
                return value
            time.sleep(0.1)
        self.fail("timed out after %ss waiting for %s\nruns: %s\n%s"
                  % (timeout, what, self.runs(), context()))


class TestDue(SchedulerBase):

    def test_due_runs_only_due_jobs_and_exits_with_worst_status(self):
        root = self.upstream("src", {"a.txt": content(1, 1000), "d/b.bin": content(2, 5000)})
        srv = self.server(root)
        self.write_job("hourly", srv.url, schedule="every 1h")
        self.write_job("later", srv.url, schedule=cron_not_now())
        bad = self.write_raw("broken.yaml", "name: broken\nsource: %s\ntarget: %s\nconections: 4\n"
                             % (srv.url, self.target("broken")))

        first = self.ftpmirror("due")

        self.assertExit(first, 2, "due with one bad job file")
        self.assertIn(bad, first.stderr, "the bad job file is named\n" + helpers.describe(first))
        rows = self.runs()
        self.assertEqual([(r["job"], r["status"]) for r in rows], [("hourly", "ok")],
                         "only the due job ran\n" + helpers.describe(first))
        self.assertMirrored(root, self.target("hourly"))
        self.assertFalse(os.path.exists(self.target("later")), "a job not due was synced")

        second = self.ftpmirror("due")

        self.assertExit(second, 2, "second due (the bad file is still there)")
        self.assertEqual(len(self.runs()), 1,
                         "a second due right after ran something\n%s\n%s"
                         % (self.runs(), helpers.describe(second)))

    def test_cron_schedule_that_never_fires_is_a_job_file_error(self):
        path = self.write_job("feb", "ftp://127.0.0.1:%d/" % dead_port(),
                              schedule="0 0 30 feb *")

        checked = self.ftpmirror("check", path)
        self.assertExit(checked, 2, "check of a schedule that never fires")
        self.assertRegex(checked.stderr, re.escape(path) + r":\d+:\d+: schedule: never fires",
                         helpers.describe(checked))
        due = self.ftpmirror("due")
        self.assertExit(due, 2, "due with a schedule that never fires")
        self.assertEqual(self.runs(), [], helpers.describe(due))

    def test_due_max_parallel_jobs_runs_every_due_job(self):
        root = self.upstream("src", {"x/one": content(3, 20000), "two": content(4, 3000)})
        srv = self.server(root, throttle=100000)
        self.write_job("first", srv.url, schedule="every 1h")
        self.write_job("second", srv.url, schedule="every 30m")

        result = self.ftpmirror("due", "--max-parallel-jobs", "2")

        self.assertExit(result, 0, "due --max-parallel-jobs 2")
        rows = self.runs()
        self.assertEqual(sorted((r["job"], r["status"]) for r in rows),
                         [("first", "ok"), ("second", "ok")], helpers.describe(result))
        self.assertMirrored(root, self.target("first"))
        self.assertMirrored(root, self.target("second"))

    def test_overlapping_due_calls_run_each_job_once(self):
        srv = self.server(self.upstream("src", {"slow.bin": content(33, 400 * 1024)}),
                          throttle=200 * 1024)
        for name in ("x", "y"):
            self.write_job(name, srv.url, schedule="every 1h", connections=1)

        out, err = self.path("due1.stdout"), self.path("due1.stderr")
        with open(out, "wb") as o, open(err, "wb") as e:
            first = helpers.spawn(self.argv("due"), stdout=o, stderr=e, env=self.env(),
                                  cwd=self.tmp)
        self.addCleanup(helpers.stop_process, first, 2.0)
        self.wait_for("the first due's first run", lambda: any(
            r["status"] == "running" for r in self.runs()), 10)
        # Started while the first still runs its first job: runs the other.
        second = self.ftpmirror("due")
        first.wait(timeout=20)
        with open(err, errors="replace") as f:
            first_log = f.read()

        self.assertExit(second, 0, "the second due")
        self.assertEqual(first.returncode, 0, "the first due\n" + first_log)
        self.assertEqual(sorted((r["job"], r["status"]) for r in self.runs()),
                         [("x", "ok"), ("y", "ok")],
                         "each job once\n%s\n%s" % (first_log, helpers.describe(second)))
        self.assertIn("no longer due", first_log, first_log)
        self.assertNotIn("already running", first_log, first_log)

    def test_sigterm_stops_the_runs_of_due(self):
        big_data = content(34, 3 * 1024 * 1024)
        srv = self.server(self.upstream("big", {"big.iso": big_data}), throttle=200 * 1024)
        self.write_job("big", srv.url, schedule="every 1h", connections=1)

        err = self.path("due.stderr")
        with open(err, "wb") as e:
            proc = helpers.spawn(self.argv("due"), stdout=subprocess.DEVNULL, stderr=e,
                                 env=self.env(), cwd=self.tmp)
        self.addCleanup(helpers.stop_process, proc, 2.0)

        def partial_sizes():
            sizes = []
            for dirpath, _, names in os.walk(self.incoming("big")):
                sizes += [os.path.getsize(os.path.join(dirpath, n)) for n in names
                          if not n.startswith(".")]
            return sizes

        self.wait_for("a download under way", lambda: any(s >= 64 * 1024 for s in partial_sizes()),
                      15)
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.fail("due did not exit within 5s of SIGTERM\nruns: %s" % self.runs())
        with open(err, errors="replace") as f:
            log = f.read()

        rows = self.runs("big")
        self.assertEqual([r["status"] for r in rows], ["aborted"], "%s\n%s" % (rows, log))
        self.assertIsNotNone(rows[0]["finished_at"], rows)
        self.assertTrue(any(0 < s < len(big_data) for s in partial_sizes()),
                        "no partial download kept: %s" % partial_sizes())
        self.assertFalse(os.path.exists(os.path.join(self.target("big"), "big.iso")),
                         "a partial file was published")
        # The child is gone too: its lock is free.
        fd = os.open(os.path.join(self.incoming("big"), ".lock"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)

    def test_two_files_with_one_job_name_are_refused(self):
        srv = self.server(self.upstream("src", {"f.txt": content(35, 100)}))
        first = self.write_job("twin", srv.url, schedule="every 1h")
        second = self.write_job("twin", srv.url, file_name="twin-copy.yaml", schedule="every 1h")
        self.write_job("other", srv.url, schedule="every 1h")

        due = self.ftpmirror("due")
        self.assertExit(due, 2, "due with two files naming one job")
        for this, that in ((first, second), (second, first)):
            self.assertRegex(due.stderr, re.escape(this) + r": job name twin .*" + re.escape(that),
                             helpers.describe(due))
        self.assertEqual([(r["job"], r["status"]) for r in self.runs()], [("other", "ok")],
                         "the duplicated job ran\n" + helpers.describe(due))

        status = self.ftpmirror("status", "--json")
        self.assertExit(status, 2, "status with two files naming one job")
        jobs = [r["job"] for r in json.loads(status.stdout)]
        self.assertLessEqual(jobs.count("twin"), 1, status.stdout)


class TestDaemon(SchedulerBase):

    def test_run_schedules_reloads_and_stops_cleanly(self):
        small = self.upstream("small", {"hello.txt": content(5, 300)})
        big_data = content(6, 3 * 1024 * 1024)
        big = self.upstream("big", {"big.iso": big_data})
        fast = self.server(small)
        slow = self.server(big, throttle=200 * 1024)
        alpha_file = self.write_job("alpha", fast.url, schedule="every 2s")

        # Two at once: alpha keeps running while beta's slow run goes on.
        proc = self.start_daemon("--max-parallel-jobs", "2")
        log = self.daemon_log

        self.wait_for("two runs of alpha", lambda: len(
            [r for r in self.runs("alpha") if r["status"] != "running"]) >= 2, 20, log)

        # Reload: a new job file, and a broken edit of alpha's.
        self.write_job("beta", slow.url, schedule="every 2s", connections=1)
        self.write_raw("alpha.yaml", "name: alpha\nsource: %s\ntarget: %s\nschedule: every 2s\n"
                       "connections: many\n" % (fast.url, self.target("alpha")))
        os.kill(proc.pid, signal.SIGHUP)

        def started_after_reload():
            text = self.daemon_log()
            at = text.find("reloading job files")
            return at >= 0 and "alpha: run started" in text[at:]

        def beta_mid_transfer():
            rows = self.runs("beta")
            if not rows or rows[-1]["status"] != "running":
                return False
            inc = self.incoming("beta")
            sizes = []
            for dirpath, _, names in os.walk(inc) if os.path.isdir(inc) else ():
                for n in names:
                    if n.startswith("."):
                        continue
                    sizes.append(os.path.getsize(os.path.join(dirpath, n)))
            return any(s >= 64 * 1024 for s in sizes)

        self.wait_for("beta mid-transfer", beta_mid_transfer, 15, log)
        self.wait_for("a run of alpha (old definition) after the reload",
                      started_after_reload, 10, log)

        rc, seconds = self.stop_daemon(proc)
        text = self.daemon_log()
        self.assertEqual(rc, 0, "exit status of ftpmirror run after SIGTERM\n" + text[-4000:])
        self.assertLess(seconds, 5.0)

        beta_runs = self.runs("beta")
        self.assertEqual(len(beta_runs), 1, beta_runs)
        self.assertEqual(beta_runs[0]["status"], "aborted",
                         "the run interrupted by SIGTERM\n%s\n%s" % (beta_runs, text[-3000:]))
        self.assertIsNotNone(beta_runs[0]["finished_at"], beta_runs)
        self.assertEqual([r for r in self.runs() if r["status"] == "running"], [],
                         "runs left 'running'")
        # The partial stays in incoming for the next run; nothing published.
        partial = []
        for dirpath, _, names in os.walk(self.incoming("beta")):
            partial += [os.path.getsize(os.path.join(dirpath, n)) for n in names
                        if not n.startswith(".")]
        self.assertTrue(any(0 < s < len(big_data) for s in partial),
                        "no partial file kept in %s: sizes %s" % (self.incoming("beta"), partial))
        self.assertFalse(os.path.exists(os.path.join(self.target("beta"), "big.iso")),
                         "a partial file was published")
        staged = self.query("SELECT * FROM staged WHERE job = 'beta'")
        self.assertTrue(staged and not any(s["complete"] for s in staged),
                        "staged rows of beta: %s" % staged)

        # The broken edit was reported, the old definition kept.
        self.assertIn(alpha_file, text)
        self.assertRegex(text, re.escape(alpha_file) + r":\d+:\d+: connections")
        self.assertIn("keeping its last good definition", text)

        # One "run started" and one "run ended" line per run.
        for job in ("alpha", "beta"):
            n_runs = len(self.runs(job))
            started = re.findall(r"ftpmirror: %s: run started" % job, text)
            ended = re.findall(r"ftpmirror: (?:error: )?%s: run ended" % job, text)
            self.assertEqual((len(started), len(ended)), (n_runs, n_runs),
                             "log lines for %s's %d runs:\n%s" % (job, n_runs, text[-4000:]))

    def test_one_at_a_time_every_due_job_gets_its_turn(self):
        root = self.upstream("src", {"f.txt": content(30, 200)})
        srv = self.server(root)
        for name in ("a", "b", "c"):
            self.write_job(name, srv.url, schedule="every 1s")

        proc = self.start_daemon()     # --max-parallel-jobs 1, the default
        # Each run takes a moment, and a job ending is due again at once:
        # starting the first due job in directory order ran only that one.
        self.wait_for("a finished run of each of a, b and c", lambda: all(
            any(r["status"] == "ok" for r in self.runs(j)) for j in ("a", "b", "c")),
            15, self.daemon_log)
        rc, _ = self.stop_daemon(proc)
        self.assertEqual(rc, 0, self.daemon_log())

    def hold_lock(self, name):
        """Hold job NAME's lock as another ftpmirror would, until cleanup."""
        os.makedirs(self.incoming(name), exist_ok=True)
        fd = os.open(os.path.join(self.incoming(name), ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"%d\n" % os.getpid())

    def test_held_lock_is_a_warning_and_not_retried_before_due(self):
        srv = self.server(self.upstream("src", {"f.txt": content(31, 100)}))
        self.write_job("busy", srv.url, schedule="every 1h")
        self.hold_lock("busy")

        quiet = self.ftpmirror("-q", "due")
        self.assertExit(quiet, 3, "due -q while the job's lock is held")
        self.assertEqual(quiet.stderr.strip(), "", "due -q printed (cron mails it)\n"
                         + helpers.describe(quiet))
        loud = self.ftpmirror("due")
        self.assertExit(loud, 3, "due while the job's lock is held")
        self.assertIn("busy: already running (pid %d" % os.getpid(), loud.stderr,
                      helpers.describe(loud))
        self.assertNotIn("error", loud.stderr, helpers.describe(loud))

        proc = self.start_daemon()
        self.wait_for("the first attempt", lambda: "already running" in self.daemon_log(),
                      10, self.daemon_log)
        time.sleep(3)
        rc, _ = self.stop_daemon(proc)
        text = self.daemon_log()
        self.assertEqual(rc, 0, text)
        self.assertEqual(len(re.findall(r"busy: run started", text)), 1,
                         "a job found running elsewhere was tried again before it is due\n"
                         + text[-3000:])
        self.assertNotIn("error", text, text[-3000:])
        self.assertEqual(self.runs(), [])

    def test_job_file_removed_or_renamed_while_running(self):
        data = content(32, 400 * 1024)
        srv = self.server(self.upstream("src", {"slow.bin": data}), throttle=200 * 1024)
        gone_file = self.write_job("gone", srv.url, schedule="every 1s", connections=1)
        moved_file = self.write_job("moved", srv.url, schedule="every 1s", connections=1)

        proc = self.start_daemon("--max-parallel-jobs", "2")
        self.wait_for("both jobs running", lambda: all(
            any(r["status"] == "running" for r in self.runs(j)) for j in ("gone", "moved")),
            10, self.daemon_log)
        os.remove(gone_file)
        renamed = os.path.join(self.jobs_dir, "renamed.yaml")
        os.rename(moved_file, renamed)
        os.kill(proc.pid, signal.SIGHUP)
        self.wait_for("the reload", lambda: "reloading job files" in self.daemon_log(), 5)
        os.kill(proc.pid, signal.SIGHUP)   # a second reload while they still run
        self.wait_for("both runs ended", lambda: self.runs() and not any(
            r["status"] == "running" for r in self.runs()), 15, self.daemon_log)
        time.sleep(3)
        rc, _ = self.stop_daemon(proc)
        text = self.daemon_log()
        self.assertEqual(rc, 0, text)

        self.assertEqual(len(self.runs("gone")), 1,
                         "a job whose file was removed ran again\n" + text[-3000:])
        self.assertEqual(len(re.findall(r"gone: run started", text)), 1, text[-3000:])
        self.assertEqual(text.count("%s: job file gone" % gone_file), 1, text[-3000:])
        # Renamed: one job, run from its new file once the old run ended,
        # never two at once (which would find the lock held).
        self.assertGreaterEqual(len(self.runs("moved")), 2, text[-3000:])
        self.assertNotIn("already running", text, text[-3000:])
        self.assertEqual(text.count("%s: job file gone" % moved_file), 1, text[-3000:])

    def test_failing_job_backs_off(self):
        port = dead_port()
        self.write_job("dead", "ftp://127.0.0.1:%d/" % port, schedule="every 1s", retries=0,
                       timeout=2)

        proc = self.start_daemon()
        self.wait_for("a first failed run", lambda: any(
            r["status"] == "failed" for r in self.runs("dead")), 10, self.daemon_log)
        time.sleep(5)
        rc, _ = self.stop_daemon(proc)

        rows = self.runs("dead")
        self.assertEqual(rc, 0, self.daemon_log())
        self.assertTrue(1 <= len(rows) <= 2,
                        "a failing job with `every 1s` ran %d times in ~6s (no back-off)\n%s\n%s"
                        % (len(rows), rows, self.daemon_log()[-3000:]))
        status = json.loads(self.ftpmirror("status", "dead", "--json").stdout)
        self.assertEqual(len(status), 1, status)
        last_end = iso_to_epoch(rows[-1]["finished_at"])
        self.assertGreaterEqual(iso_to_epoch(status[0]["next_due_at"]), last_end + 59,
                                "next_due_at of a failing job: %s" % status)


class TestStatusShow(SchedulerBase):

    def test_status_and_show(self):
        files = {"a.txt": content(7, 1234), "sub/b.dat": content(8, 4321)}
        root = self.upstream("src", files)
        srv = self.server(root)
        self.write_job("done", srv.url, schedule="every 1h")
        self.write_job("fresh", srv.url, schedule="every 1h")

        self.assertExit(self.ftpmirror("sync", "done"), 0, "sync done")
        run1 = self.runs("done")[-1]

        text = self.ftpmirror("status")
        self.assertExit(text, 0, "status")
        lines = {line.split()[0]: line for line in text.stdout.splitlines() if line.strip()}
        self.assertIn("done", lines, text.stdout)
        self.assertIn("fresh", lines, text.stdout)
        done = lines["done"]
        self.assertIn(run1["started_at"], done)
        self.assertIn("ok", done.split())
        self.assertIn("+2/~0/-0", done)
        self.assertIn("never", lines["fresh"].split(), text.stdout)

        js = self.ftpmirror("status", "--json")
        self.assertExit(js, 0, "status --json")
        by_job = {r["job"]: r for r in json.loads(js.stdout)}
        d = by_job["done"]
        self.assertEqual(d["last_status"], "ok", d)
        self.assertEqual(d["last_started_at"], run1["started_at"], d)
        self.assertEqual((d["files_added"], d["files_changed"], d["files_deleted"]), (2, 0, 0), d)
        self.assertEqual(d["bytes_downloaded"], 1234 + 4321, d)
        self.assertIsInstance(d["age_seconds"], int, d)
        self.assertTrue(0 <= d["age_seconds"] < 120, d)
        self.assertRegex(d["next_due_at"], ISO_UTC)
        self.assertAlmostEqual(iso_to_epoch(d["next_due_at"]),
                               iso_to_epoch(run1["started_at"]) + 3600, delta=2, msg=str(d))
        f = by_job["fresh"]
        self.assertIsNone(f["last_status"], f)
        self.assertIsNone(f["last_run_id"], f)
        self.assertIsNotNone(f["next_due_at"], f)   # never run: due now
        self.assertLessEqual(iso_to_epoch(f["next_due_at"]), time.time() + 2, f)

        # A change upstream, then the history of that file, newest first.
        helpers.set_file(root, "a.txt", content(9, 2000), MTIME + 100)
        self.assertExit(self.ftpmirror("sync", "done"), 0, "second sync")
        run2 = self.runs("done")[-1]

        shown = self.ftpmirror("show", "done", "a.txt")
        self.assertExit(shown, 0, "show done a.txt")
        ev_lines = [l for l in shown.stdout.splitlines() if l.strip()]
        self.assertEqual(len(ev_lines), 2, shown.stdout)
        self.assertIn("change", ev_lines[0].split(), shown.stdout)
        self.assertIn("add", ev_lines[1].split(), shown.stdout)

        sj = self.ftpmirror("show", "done", "/a.txt", "--json")
        self.assertExit(sj, 0, "show --json")
        events = json.loads(sj.stdout)
        self.assertEqual([(e["action"], e["run_id"], e["bytes"]) for e in events],
                         [("change", run2["id"], 2000), ("add", run1["id"], 1234)], events)
        limited = json.loads(self.ftpmirror("show", "done", "a.txt", "--json", "--limit", "1").stdout)
        self.assertEqual([e["action"] for e in limited], ["change"])


class TestMetrics(SchedulerBase):

    def check_metrics(self, path, job, files, nbytes):
        self.assertTrue(os.path.isfile(path), "no metrics file %s" % path)
        leftovers = [n for n in os.listdir(os.path.dirname(path))
                     if n.startswith(os.path.basename(path)) and n != os.path.basename(path)]
        self.assertEqual(leftovers, [], "temporary metrics files left behind")
        with open(path) as f:
            text = f.read()
        samples = parse_metrics(text)
        names = {s[0] for s in samples}
        for name in names:
            self.assertIn("# TYPE %s " % name, text)
        mine = {}
        for name, labels, value in samples:
            if labels.get("job") == job:
                mine[(name, labels.get("action"))] = value
        now = time.time()
        ok_at = mine.get(("ftpmirror_last_success_timestamp_seconds", None))
        self.assertIsNotNone(ok_at, text)
        self.assertTrue(now - 120 < ok_at <= now + 2, text)
        self.assertEqual(mine.get(("ftpmirror_last_run_success", None)), 1, text)
        self.assertEqual(mine.get(("ftpmirror_last_run_files", "added")), files, text)
        self.assertEqual(mine.get(("ftpmirror_last_run_bytes", None)), nbytes, text)
        self.assertEqual(mine.get(("ftpmirror_last_run_errors", None)), 0, text)
        self.assertIn(("ftpmirror_last_run_duration_seconds", None), mine, text)

    def test_metrics_file_option_env_and_job_key(self):
        root = self.upstream("src", {"m1": content(10, 700), "m2": content(11, 800)})
        srv = self.server(root)
        os.makedirs(self.path("metrics"))
        self.write_job("one", srv.url)
        self.write_job("two", srv.url)
        self.write_job("three", srv.url, metrics_file=self.path("metrics", "job.prom"))

        opt = self.path("metrics", "opt.prom")
        self.assertExit(self.ftpmirror("sync", "--metrics-file", opt, "one"), 0, "sync --metrics-file")
        self.check_metrics(opt, "one", 2, 1500)

        env_file = self.path("metrics", "env.prom")
        self.assertExit(self.ftpmirror("sync", "two", env=self.env(FTPMIRROR_METRICS_FILE=env_file)),
                        0, "sync with FTPMIRROR_METRICS_FILE")
        self.check_metrics(env_file, "two", 2, 1500)
        self.check_metrics(env_file, "one", 2, 1500)   # every job is described

        self.assertExit(self.ftpmirror("sync", "three"), 0, "sync of a job with metrics_file")
        self.check_metrics(self.path("metrics", "job.prom"), "three", 2, 1500)
        # A job's own file describes that job alone: node_exporter's textfile
        # collector refuses a series found in two files.
        with open(self.path("metrics", "job.prom")) as f:
            jobs = {labels.get("job") for _, labels, _ in parse_metrics(f.read())}
        self.assertEqual(jobs, {"three"}, "jobs in a job's own metrics file")

        # While a job runs, its values are those of its last finished run:
        # an alert on success or age must not go blind for a run's length.
        self.execute("INSERT INTO runs (job, started_at, status) "
                     "VALUES ('one', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'running')")
        during = self.path("metrics", "during.prom")
        self.assertExit(self.ftpmirror("sync", "--metrics-file", during, "two"), 0, "sync two")
        self.check_metrics(during, "one", 2, 1500)


class TestViews(SchedulerBase):

    def test_last_runs_failing_jobs_recent_changes(self):
        root = self.upstream("src", {"v.txt": content(12, 100)})
        srv = self.server(root)
        self.write_job("good", srv.url)
        self.write_job("dead", "ftp://127.0.0.1:%d/" % dead_port(), retries=0, timeout=2)
        self.assertExit(self.ftpmirror("sync", "good"), 0, "sync good")
        helpers.set_file(root, "w.txt", content(13, 50), MTIME)
        self.assertExit(self.ftpmirror("sync", "good"), 0, "sync good again")
        for _ in range(2):
            self.assertExit(self.ftpmirror("sync", "dead"), 4, "sync of an unreachable source")

        last = {r["job"]: r for r in self.query("SELECT * FROM last_runs")}
        self.assertEqual(set(last), {"good", "dead"}, last)
        self.assertEqual(last["good"]["id"], self.runs("good")[-1]["id"])
        self.assertEqual(last["dead"]["status"], "failed")

        failing = self.query("SELECT * FROM failing_jobs")
        self.assertEqual([(f["job"], f["failures_in_a_row"], f["last_ok"]) for f in failing],
                         [("dead", 2, None)], failing)

        changes = self.query("SELECT * FROM recent_changes")
        got = [(c["job"], c["action"], helpers.norm_path(c["path"])) for c in changes]
        self.assertEqual(got, [("good", "add", "w.txt"), ("good", "add", "v.txt")], changes)

    def test_history_days_prunes_old_events(self):
        root = self.upstream("src", {"p.txt": content(14, 100)})
        srv = self.server(root)
        self.write_job("kept", srv.url, history_days=1)
        self.assertExit(self.ftpmirror("sync", "kept"), 0, "first sync")
        old = self.runs("kept")[-1]
        self.assertTrue(self.query("SELECT * FROM events WHERE run_id = ?", (old["id"],)))
        self.execute("UPDATE runs SET started_at = '2020-01-01T00:00:00Z', "
                     "finished_at = '2020-01-01T00:00:01Z' WHERE id = ?", (old["id"],))

        helpers.set_file(root, "q.txt", content(15, 60), MTIME)
        self.assertExit(self.ftpmirror("sync", "kept"), 0, "second sync")
        new = self.runs("kept")[-1]
        # A run counts from its end: one that began before history_days (a
        # first copy may take days) but ended within it keeps its events.
        self.execute("UPDATE runs SET started_at = '2020-01-01T00:00:00Z' WHERE id = ?",
                     (new["id"],))
        helpers.set_file(root, "r.txt", content(16, 70), MTIME)
        self.assertExit(self.ftpmirror("sync", "kept"), 0, "third sync")

        self.assertEqual(self.query("SELECT * FROM events WHERE run_id = ?", (old["id"],)), [],
                         "events of a run older than history_days were kept")
        self.assertEqual(len(self.query("SELECT * FROM runs WHERE id = ?", (old["id"],))), 1,
                         "the old runs row was removed")
        self.assertTrue(self.query("SELECT * FROM events WHERE run_id = ?", (new["id"],)),
                        "events of the new run are missing")


class TestLogs(SchedulerBase):

    PASSWORD = "Sekr1t-Pa55-xyzzy"

    def setUp(self):
        super().setUp()
        self.root = self.upstream("src", {"l1.txt": content(16, 300), "dir/l2.txt": content(17, 400)})
        self.srv = self.server(self.root)
        self.write_job("logged", self.srv.url, user="anonymous", password=self.PASSWORD,
                       connections=1)
        self.write_job("dead", "ftp://127.0.0.1:%d/" % dead_port(), retries=0, timeout=2)

    def lines(self, text):
        return [l for l in text.splitlines() if l.strip()]

    def test_journal_priorities(self):
        env = self.env(JOURNAL_STREAM="8:12345")
        ok = self.ftpmirror("sync", "logged", env=env)
        self.assertExit(ok, 0, "sync under JOURNAL_STREAM")
        lines = self.lines(ok.stderr)
        self.assertTrue(lines, "no log lines at all\n" + helpers.describe(ok))
        bad = [l for l in lines if not re.match(r"^<[0-7]>", l)]
        self.assertEqual(bad, [], "lines without a <N> prefix\n" + helpers.describe(ok))
        self.assertTrue(any(l.startswith("<6>") for l in lines), helpers.describe(ok))

        fail = self.ftpmirror("sync", "dead", env=env)
        self.assertExit(fail, 4, "unreachable source under JOURNAL_STREAM")
        flines = self.lines(fail.stderr)
        self.assertTrue(any(l.startswith("<3>") for l in flines), helpers.describe(fail))
        self.assertEqual([l for l in flines if not re.match(r"^<[0-7]>", l)], [],
                         helpers.describe(fail))

        plain = self.ftpmirror("sync", "logged")
        self.assertFalse(any(re.match(r"^<[0-7]>", l) for l in self.lines(plain.stderr)),
                         "<N> prefixes without JOURNAL_STREAM\n" + helpers.describe(plain))

    def test_quiet_prints_errors_only(self):
        ok = self.ftpmirror("-q", "sync", "logged")
        self.assertExit(ok, 0, "sync -q")
        self.assertEqual(ok.stderr.strip(), "", "sync -q printed something\n" + helpers.describe(ok))
        fail = self.ftpmirror("-q", "sync", "dead", env=self.env(JOURNAL_STREAM="8:1"))
        self.assertExit(fail, 4, "sync -q of an unreachable source")
        lines = self.lines(fail.stderr)
        self.assertTrue(lines, "sync -q hid the error\n" + helpers.describe(fail))
        self.assertEqual([l for l in lines if not l.startswith("<3>")], [],
                         "sync -q printed more than errors\n" + helpers.describe(fail))

    def test_verbose_lines_per_file_and_protocol_password_masked(self):
        v = self.ftpmirror("-v", "sync", "logged")
        self.assertExit(v, 0, "sync -v")
        out = v.stdout + v.stderr
        self.assertNotIn(self.PASSWORD, out, "the password was logged")
        self.assertIn("PASS ****", out, helpers.describe(v))
        for rel in ("l1.txt", "dir/l2.txt"):
            per_file = [l for l in self.lines(v.stderr) if ("/" + rel) in l and "RETR" not in l]
            self.assertTrue(per_file, "no per-file line for %s\n%s" % (rel, helpers.describe(v)))
        self.assertRegex(v.stderr, r"-> RETR \S*l1\.txt")
        self.assertRegex(v.stderr, r"<- 2\d\d ")
        normal = self.ftpmirror("sync", "logged")
        self.assertNotIn("-> ", normal.stderr, "protocol lines without -v")


class TestProgress(SchedulerBase):

    def test_progress_line_on_a_terminal_only(self):
        root = self.upstream("src", {"p%d.bin" % i: content(20 + i, 100 * 1024) for i in range(3)})
        srv = self.server(root, throttle=150 * 1024)
        self.write_job("tty", srv.url, connections=1)
        self.write_job("pipe", srv.url, connections=1)

        master, slave = os.openpty()
        try:
            proc = helpers.spawn(self.argv("sync", "tty"), stdout=subprocess.DEVNULL, stderr=slave,
                                 env=self.env(TERM="xterm"), cwd=self.tmp)
        finally:
            os.close(slave)
        captured = b""
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = os.read(master, 4096)
                except OSError:    # EIO: every slave end is closed
                    break
                if not chunk:
                    break
                captured += chunk
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        finally:
            os.close(master)
            helpers.stop_process(proc, grace=1.0)
        text = captured.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, "sync on a terminal:\n%r" % text[-3000:])
        redraws = [part for part in text.split("\r") if "files" in part and "ETA" in part]
        self.assertGreaterEqual(len(redraws), 2,
                                "no live progress line (\\r redraws with files and ETA):\n%r"
                                % text[-3000:])
        self.assertMirrored(root, self.target("tty"))

        piped = self.ftpmirror("sync", "pipe")
        self.assertExit(piped, 0, "sync, stderr a pipe")
        self.assertNotIn("\r", piped.stderr, "progress redraws on a pipe\n" + helpers.describe(piped))
        self.assertNotIn("ETA", piped.stderr, helpers.describe(piped))
