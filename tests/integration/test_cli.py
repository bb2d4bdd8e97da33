"""Command-line contract: job-file errors, exit statuses without a usable
remote, `history --json`, and `sync --dry-run`."""

import json
import os
import re
import socket
import sqlite3
import time

import helpers
import servers
from helpers import content

RUN_KEYS = set(helpers.RUN_COLUMNS)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class TestCheck(helpers.IntegrationTest):
    """`check` reports job-file errors as FILE:LINE:COLUMN: and `sync`
    refuses such a job (exit 2) before any network access."""

    def write(self, name, text):
        path = self.path(name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def job_text(self, port, extra):
        # Line numbers matter: `extra` starts on line 5.
        return ("# job file with a mistake on line 5\n"
                "name: broken\n"
                "source: ftp://127.0.0.1:%d/\n"
                "target: %s\n"
                "%s\n"
                "connections: 2\n" % (port, self.path("mirror"), extra))

    def mirror(self):
        # Only for its argv/env helpers; the job file is written by hand.
        return helpers.Mirror(self.tmp, "unused", "ftp://127.0.0.1:1/")

    def assertReports(self, result, job, line, column):
        output = result.stdout + result.stderr
        where = "%s:%d:%d:" % (job, line, column)
        if where not in output:
            found = re.findall(re.escape(job) + r":\d+:\d+:[^\n]*", output)
            self.fail("expected an error at %s, found %s\n%s"
                      % (where, found or "none", helpers.describe(result)))

    def test_valid_job_passes_check(self):
        job = self.write("good.yaml", self.job_text(21, "retries: 3"))
        result = self.mirror().run("check", job)
        self.assertExit(result, 0, "check of a valid job")

    def test_unknown_key_is_reported_with_position(self):
        job = self.write("badkey.yaml", self.job_text(21, "conections: 4"))
        result = self.mirror().run("check", job)
        self.assertExit(result, 2, "check of a job with an unknown key")
        self.assertReports(result, job, 5, 1)

    def test_bad_value_is_reported_with_position(self):
        job = self.write("badvalue.yaml", self.job_text(21, "retries: lots"))
        result = self.mirror().run("check", job)
        self.assertExit(result, 2, "check of a job with a non-numeric retries")
        self.assertReports(result, job, 5, 10)

    def test_password_file_error_is_reported_with_position(self):
        # user on line 5, password_file on line 6, its value at column 16.
        for name, pwfile in (("nopw.yaml", "/nonexistent/pw"), ("dirpw.yaml", self.tmp)):
            job = self.write(name, self.job_text(21, "user: bob\npassword_file: %s" % pwfile))
            result = self.mirror().run("check", job)
            self.assertExit(result, 2, "check of a job whose password_file is %s" % pwfile)
            self.assertReports(result, job, 6, 16)

    def test_missing_ca_file_is_reported_with_position(self):
        # Found at the TLS handshake instead, it would look like the server's fault.
        job = self.write("noca.yaml", self.job_text(21, "tls: required\nca_file: /nonexistent/ca.pem"))
        result = self.mirror().run("check", job)
        self.assertExit(result, 2, "check of a job whose ca_file is missing")
        self.assertReports(result, job, 6, 10)

    def test_sync_refuses_invalid_job_without_network(self):
        # A listener that would see any connection attempt.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", helpers.ports.port()))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        job = self.write("badkey.yaml", self.job_text(port, "conections: 4"))

        result = self.mirror().run("sync", job)

        self.assertExit(result, 2, "sync of an invalid job")
        try:
            conn, _ = listener.accept()
            conn.close()
            self.fail("sync of an invalid job connected to its source\n" + helpers.describe(result))
        except BlockingIOError:
            pass
        self.assertFalse(os.path.exists(self.path("mirror")), "sync of an invalid job created its target")
        mirror = self.mirror()
        self.assertFalse(os.path.exists(mirror.db), "sync of an invalid job created the database")


class TestRemoteUnusable(helpers.IntegrationTest):

    def test_nothing_listening_exits_4(self):
        port = helpers.ports.port()   # free, and nothing will bind it
        mirror = helpers.Mirror(self.tmp, "nobody-home", "ftp://127.0.0.1:%d/" % port,
                                retries=1, timeout=10)
        result = mirror.sync(timeout=60)
        self.assertExit(result, 4, "sync against a port where nothing listens")


class TestHistory(helpers.IntegrationTest):

    def test_history_json(self):
        remote = self.path("remote")
        helpers.write_tree(remote, {"a.txt": (content("a", 100), 1_600_000_000),
                                    "d/b.txt": (content("b", 200), 1_600_000_001)})
        server = servers.start_for(self, "pyftpdlib", remote)
        mirror = helpers.Mirror(self.tmp, "hist", server.url)
        for _ in range(2):
            self.assertExit(mirror.sync(), 0, "sync")

        result = mirror.run("history", "--json")
        self.assertExit(result, 0, "history --json")
        try:
            runs = json.loads(result.stdout)
        except ValueError as exc:
            self.fail("history --json printed invalid JSON (%s)\n%s" % (exc, helpers.describe(result)))
        self.assertIsInstance(runs, list)
        self.assertEqual(len(runs), 2, "runs in history: %s" % runs)
        # INTERFACE.md: "the columns of runs as keys", all of them.
        columns = {c["name"] for c in helpers.query_db(mirror.db, "PRAGMA table_info(runs)")}
        rows = {r["id"]: r for r in mirror.runs()}
        for run in runs:
            self.assertIsInstance(run, dict)
            self.assertEqual(RUN_KEYS - set(run), set(), "keys missing from %s" % run)
            self.assertEqual(columns - set(run), set(), "runs columns missing from %s" % run)
            self.assertEqual((run["source"], run["pid"]),
                             (rows[run["id"]]["source"], rows[run["id"]]["pid"]))
            self.assertEqual(run["job"], "hist")
            self.assertEqual(run["status"], "ok")
            self.assertRegex(run["started_at"], ISO_UTC)
            self.assertRegex(run["finished_at"], ISO_UTC)
        self.assertGreater(runs[0]["id"], runs[1]["id"], "history is not newest first")
        self.assertEqual(runs[1]["files_added"], 2)
        self.assertEqual(runs[1]["bytes_downloaded"], 300)

        limited = mirror.run("history", "hist", "--limit", "1", "--json")
        self.assertExit(limited, 0, "history hist --limit 1 --json")
        self.assertEqual([r["id"] for r in json.loads(limited.stdout)], [runs[0]["id"]])


class TestReadersDoNotWait(helpers.IntegrationTest):
    """history, status and show only read: an operator's write transaction
    (or a sync's) holding the database lock must not make them wait for
    it (they did, 10 s, then failed)."""

    def test_reading_beside_a_held_write_lock(self):
        port = helpers.ports.port()   # nothing listens: one failed run to read
        mirror = helpers.Mirror(self.tmp, "held", "ftp://127.0.0.1:%d/" % port, retries=1)
        os.makedirs(self.path("jobs.d"))   # the jobs directory its environment names
        self.assertExit(mirror.sync(), 4, "sync of an unreachable source")
        con = sqlite3.connect(mirror.db, timeout=5, isolation_level=None)
        self.addCleanup(con.close)
        con.execute("BEGIN IMMEDIATE")
        con.execute("UPDATE runs SET message = message")
        for args in (["history"], ["status", "held"], ["show", "held", "x"]):
            started = time.monotonic()
            result = mirror.run(*args, timeout=30)
            self.assertExit(result, 0, " ".join(args) + " beside a held write lock")
            self.assertLess(time.monotonic() - started, 5, " ".join(args) + " waited")
        con.execute("ROLLBACK")


class TestHistoryOfAJob(helpers.IntegrationTest):
    """`history JOB` takes JOB as sync and status do: a job file's path or a
    job name."""

    def test_history_by_job_file(self):
        port = helpers.ports.port()   # nothing listens: each sync is one failed run
        mirror = helpers.Mirror(self.tmp, "byfile", "ftp://127.0.0.1:%d/" % port, retries=1)
        other = helpers.Mirror(self.tmp, "other", "ftp://127.0.0.1:%d/" % port, retries=1)
        for m in (mirror, mirror, other):
            self.assertExit(m.sync(), 4, "sync of %s" % m.name)

        by_name = mirror.run("history", "byfile", "--json")
        self.assertExit(by_name, 0, "history byfile")
        by_file = mirror.run("history", mirror.job, "--json")
        self.assertExit(by_file, 0, "history %s" % mirror.job)
        runs = json.loads(by_file.stdout)
        self.assertEqual([r["job"] for r in runs], ["byfile", "byfile"], by_file.stdout)
        self.assertEqual(runs, json.loads(by_name.stdout))

        text = mirror.run("history", os.path.basename(mirror.job))   # relative to the cwd
        self.assertExit(text, 0, "history byfile.yaml")
        self.assertEqual(len(text.stdout.splitlines()), 2, text.stdout)


def file_state(path):
    """(mtime_ns, bytes) of the file at path, or None if there is none."""
    try:
        with open(path, "rb") as f:
            return os.fstat(f.fileno()).st_mtime_ns, f.read()
    except FileNotFoundError:
        return None


class TestDryRun(helpers.IntegrationTest):
    """INTERFACE.md: `sync --dry-run` prints what would be fetched, deleted and
    published, and changes nothing on disk or in the database."""

    def setUp(self):
        super().setUp()
        self.remote = self.path("remote")
        helpers.write_tree(self.remote, {"a.txt": (content("a", 100), 1_600_000_000),
                                         "d/b.txt": (content("b", 200), 1_600_000_001),
                                         "d/gone.txt": (content("g", 50), 1_600_000_002)})
        server = servers.start_for(self, "pyftpdlib", self.remote)
        self.mirror = helpers.Mirror(self.tmp, "dry", server.url, max_delete="90%")

    def untouched(self):
        """What a dry run must leave as it is: target, incoming, the database."""
        return {"target": helpers.snapshot(self.mirror.target),
                "incoming": helpers.snapshot(self.mirror.incoming),
                "db": {p: file_state(p) for p in (self.mirror.db, self.mirror.db + "-wal")}}

    def test_dry_run_before_the_first_sync_creates_nothing(self):
        result = self.mirror.run("sync", "--dry-run", self.mirror.job)
        self.assertExit(result, 0, "sync --dry-run of a new job")
        for path in ("/a.txt", "/d/b.txt"):
            self.assertRegex(result.stdout, r"(?m)^fetch\tadd\t%s\t" % re.escape(path))
        for path in (self.mirror.target, self.mirror.incoming, self.mirror.db):
            self.assertFalse(os.path.exists(path), "the dry run created %s" % path)

    def test_dry_run_lists_changes_and_changes_nothing(self):
        self.assertExit(self.mirror.sync(), 0, "first sync")
        helpers.set_file(self.remote, "a.txt", content("a2", 120), 1_600_000_100)
        helpers.set_file(self.remote, "d/new.txt", content("n", 10), 1_600_000_101)
        os.unlink(os.path.join(self.remote, "d/gone.txt"))
        before = self.untouched()
        runs = len(self.mirror.runs())

        result = self.mirror.run("sync", "--dry-run", self.mirror.job)

        self.assertExit(result, 0, "sync --dry-run")
        self.assertRegex(result.stdout, r"(?m)^fetch\tchange\t/a\.txt\t")
        self.assertRegex(result.stdout, r"(?m)^fetch\tadd\t/d/new\.txt\t")
        self.assertRegex(result.stdout, r"(?m)^delete\tfile\t/d/gone\.txt$")
        self.assertEqual(self.untouched(), before, "the dry run changed the disk or the database")
        self.assertEqual(len(self.mirror.runs()), runs, "the dry run recorded a run")
        # Its summary names no run: there is none.
        self.assertNotRegex(result.stdout + result.stderr, r"\(run \d+\)", "a run named")
        self.assertRegex(result.stderr, r"dry run, ok: 2 to fetch .* 1 to delete; nothing changed")

    def test_dry_run_stops_where_max_delete_would(self):
        """The plan ends as the sync would: max_delete stops the deletions
        (exit 5), so none is printed."""
        self.assertExit(self.mirror.sync(), 0, "first sync")
        os.unlink(os.path.join(self.remote, "a.txt"))
        os.unlink(os.path.join(self.remote, "d/gone.txt"))
        self.mirror.write_job(max_delete=1)
        result = self.mirror.run("sync", "--dry-run", self.mirror.job)
        self.assertExit(result, 5, "sync --dry-run over max_delete")
        self.assertNotRegex(result.stdout, r"(?m)^delete", "deletions the sync would not make")
        self.assertIn("max_delete", result.stderr, helpers.describe(result))
        self.assertExit(self.mirror.sync(), 5, "the sync itself")

    def test_dry_run_json_is_one_object_per_line(self):
        """--json: each planned step, then the summary, one JSON object a line."""
        result = self.mirror.run("--json", "sync", "--dry-run", self.mirror.job)
        self.assertExit(result, 0, "sync --dry-run --json")
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        steps, summary = lines[:-1], lines[-1]
        self.assertEqual(sorted((s["action"], s["path"]) for s in steps),
                         [("fetch", "/a.txt"), ("fetch", "/d/b.txt"), ("fetch", "/d/gone.txt"),
                          ("mkdir", "/d")], result.stdout)
        self.assertEqual((summary["job"], summary["dry_run"], summary["status"], summary["fetch"],
                          summary["bytes"], summary["deletions"]),
                         ("dry", True, "ok", 3, 350, 0), result.stdout)
        self.assertNotIn("id", summary, "a dry run has no run id")


class TestOptions(helpers.IntegrationTest):
    """Every command parses its options the same way: `--` ends them, an
    unknown one is a usage error (exit 2), and a mistake prints the
    command's usage."""

    def setUp(self):
        super().setUp()
        self.mirror = helpers.Mirror(self.tmp, "alpha", "ftp://127.0.0.1:%d/" % helpers.ports.port())

    def assertUsage(self, result, command, what):
        self.assertExit(result, 2, what)
        self.assertRegex(result.stderr, r"(?m)^usage: ftpmirror .*\b%s\b" % command,
                         "%s: no usage of %s\n%s" % (what, command, helpers.describe(result)))

    def test_double_dash_ends_options(self):
        result = self.mirror.run("check", "--", self.mirror.job)
        self.assertExit(result, 0, "check -- JOB")
        # Nothing listens there: exit 4 shows the URL was taken as one.
        result = self.mirror.run("ls", "--", self.mirror.source)
        self.assertExit(result, 4, "ls -- URL")

    def test_unknown_option_is_a_usage_error(self):
        for args in (["check", "-x", self.mirror.job], ["check", self.mirror.job, "--bogus"],
                     ["ls", "-x", self.mirror.source]):
            result = self.mirror.run(*args)
            self.assertUsage(result, args[0], " ".join(args))
            self.assertNotIn("no job -x", result.stderr, "an option taken for a job")

    def test_option_errors_print_the_usage(self):
        for args in (["history", "--limit"], ["sync", "-v", "alpha"],
                     ["due", "--max-parallel-jobs"], ["sync", "--metrics-file"],
                     ["status", "--bogus"], ["show", "--limit"], ["run", "--bogus"]):
            self.assertUsage(self.mirror.run(*args), args[0], " ".join(args))


class TestSetupErrors(helpers.IntegrationTest):
    """No usable database or jobs directory means nothing could run: that is
    a setup error, exit 2, never 1 (a run that finished with failed files)."""

    COMMANDS = (["sync", "JOB"], ["history"], ["status"], ["show", "alpha", "a.txt"],
                ["due"], ["run"])

    def setUp(self):
        super().setUp()
        self.mirror = helpers.Mirror(self.tmp, "alpha", "ftp://127.0.0.1:%d/" % helpers.ports.port())
        os.makedirs(self.path("jobs.d"))

    def run_all(self, argv_prefix, env, what):
        for args in self.COMMANDS:
            args = [self.mirror.job if a == "JOB" else a for a in args]
            result = helpers.run_command(argv_prefix + args, timeout=20, env=env, cwd=self.tmp)
            self.assertExit(result, 2, "%s %s" % (" ".join(args), what))
            self.assertIn("database", result.stderr, helpers.describe(result))

    def test_corrupt_database(self):
        with open(self.mirror.db, "wb") as f:
            f.write(content("not a database", 16384))
        self.run_all(self.mirror.argv(), self.mirror.env(), "on a corrupt database")

    def test_database_in_a_missing_directory(self):
        db = self.path("missing", "state.db")
        self.run_all([helpers.binary(), "--db", db], self.mirror.env(),
                     "with the database in a missing directory")

    def test_no_database_without_home(self):
        env = self.mirror.env()
        for name in ("HOME", "XDG_STATE_HOME", "FTPMIRROR_DB"):
            env.pop(name, None)
        argv = [helpers.binary()]
        if os.geteuid() == 0:
            # root has a default database; only other users need HOME.
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
        self.run_all(argv, env, "without HOME or FTPMIRROR_DB")

    def test_run_without_its_jobs_directory(self):
        for command in ("due", "run"):
            argv = [helpers.binary(), "--db", self.mirror.db, "--jobs-dir", self.path("nowhere"),
                    command]
            result = helpers.run_command(argv, timeout=20, env=self.mirror.env(), cwd=self.tmp)
            self.assertExit(result, 2, "%s without its jobs directory" % command)
            self.assertIn("nowhere", result.stderr, helpers.describe(result))


class TestStatusOfAJob(helpers.IntegrationTest):
    """`status JOB` and `history JOB` say when JOB is wrong: a job file with
    errors is reported as FILE:LINE:COLUMN (exit 2), a job known neither by
    a file nor by runs is an error naming it (exit 2), and so is a jobs
    directory that was given but is missing."""

    def setUp(self):
        super().setUp()
        self.jobs_dir = self.path("jobs.d")
        os.makedirs(self.jobs_dir)
        self.port = helpers.ports.port()   # nothing listens there
        self.ran = helpers.Mirror(self.tmp, "ran", "ftp://127.0.0.1:%d/" % self.port, retries=1)
        self.assertExit(self.ran.sync(), 4, "sync of ran")   # a run, and no job file in jobs.d
        with open(os.path.join(self.jobs_dir, "broken.yaml"), "w") as f:
            f.write("name: broken\nsource: ftp://127.0.0.1:%d/\ntarget: %s\nconnections: lots\n"
                    % (self.port, self.path("broken")))
        with open(os.path.join(self.jobs_dir, "fresh.yaml"), "w") as f:
            f.write("name: fresh\nsource: ftp://127.0.0.1:%d/\ntarget: %s\n"
                    % (self.port, self.path("fresh")))

    def test_job_file_with_an_error(self):
        for args in (["status", "broken"], ["status", "--json", "broken"],
                     ["status", os.path.join(self.jobs_dir, "broken.yaml")]):
            result = self.ran.run(*args)
            self.assertExit(result, 2, " ".join(args))
            self.assertIn("broken.yaml:4:14: connections", result.stderr, helpers.describe(result))
            self.assertNotIn("no jobs in", result.stderr + result.stdout)

    def test_all_jobs_with_a_bad_file(self):
        """Plain `status` shows the good jobs and reports the bad file with
        exit 2, as `due` does."""
        result = self.ran.run("--jobs-dir", self.jobs_dir, "status")
        self.assertExit(result, 2, "status with a bad job file in the jobs directory")
        self.assertIn("broken.yaml:4:14: connections", result.stderr, helpers.describe(result))
        self.assertIn("fresh", result.stdout, helpers.describe(result))

    def test_unknown_job(self):
        for command in ("status", "history"):
            result = self.ran.run(command, "nosuchjob")
            self.assertExit(result, 2, "%s of an unknown job" % command)
            self.assertIn("nosuchjob", result.stderr, helpers.describe(result))

    def test_known_jobs_still_work(self):
        # Known by its runs only, or by its file only.
        for args in (["status", "ran"], ["history", "ran"], ["status", "fresh"],
                     ["history", "fresh"], ["history", "broken"]):
            result = self.ran.run(*args)
            self.assertExit(result, 0, " ".join(args))
        self.assertIn("ran", self.ran.run("status", "ran").stdout)
        self.assertIn("fresh", self.ran.run("status", "fresh").stdout)

    def test_missing_jobs_dir_given(self):
        missing = self.path("nowhere")
        env = self.ran.env()
        env["FTPMIRROR_JOBS_DIR"] = missing
        for argv, env_ in (([helpers.binary(), "--db", self.ran.db, "status"], env),
                           ([helpers.binary(), "--db", self.ran.db, "status", "ran"], env),
                           ([helpers.binary(), "--db", self.ran.db, "--jobs-dir", missing, "status"],
                            self.ran.env())):
            result = helpers.run_command(argv, timeout=30, env=env_, cwd=self.tmp)
            self.assertExit(result, 2, " ".join(argv[3:]) + " with a missing jobs directory")
            self.assertIn("nowhere", result.stderr, helpers.describe(result))

    def test_default_jobs_dir_may_be_absent(self):
        if os.path.exists("/etc/ftpmirror/jobs.d"):
            self.skipTest("this machine has /etc/ftpmirror/jobs.d")
        env = self.ran.env()
        env["FTPMIRROR_JOBS_DIR"] = ""
        for args in (["status"], ["status", "ran"]):
            result = helpers.run_command([helpers.binary(), "--db", self.ran.db] + args,
                                         timeout=30, env=env, cwd=self.tmp)
            self.assertExit(result, 0, " ".join(args) + " without the default jobs directory")
            self.assertIn("ran", result.stdout)


class TestStatusJson(helpers.IntegrationTest):

    def test_every_job_has_the_same_keys(self):
        jobs_dir = self.path("jobs.d")
        os.makedirs(jobs_dir)
        port = helpers.ports.port()   # nothing listens there
        ran = helpers.Mirror(self.tmp, "ran", "ftp://127.0.0.1:%d/" % port, retries=1)
        self.assertExit(ran.sync(), 4, "sync of ran")
        with open(os.path.join(jobs_dir, "fresh.yaml"), "w") as f:
            f.write("name: fresh\nsource: ftp://127.0.0.1:%d/\ntarget: %s\nschedule: every 1h\n"
                    % (port, self.path("fresh")))

        result = ran.run("status", "--json")
        self.assertExit(result, 0, "status --json")
        by_job = {o["job"]: o for o in json.loads(result.stdout)}
        self.assertEqual(set(by_job), {"ran", "fresh"}, result.stdout)
        self.assertEqual(set(by_job["fresh"]), set(by_job["ran"]),
                         "a never-run job's keys differ from a run job's")
        fresh = by_job["fresh"]
        for key in ("last_run_id", "last_started_at", "last_finished_at", "last_status",
                    "files_added", "bytes_downloaded", "errors", "last_ok_at", "age_seconds"):
            self.assertIsNone(fresh[key], "%s of a job that never ran: %s" % (key, fresh))
        self.assertEqual(fresh["failures_in_a_row"], 0, fresh)
        self.assertIsNotNone(fresh["next_due_at"], fresh)
