"""Command-line contract: job-file errors, exit statuses without a usable
remote, and `history --json`."""

import json
import os
import re
import socket

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
        for run in runs:
            self.assertIsInstance(run, dict)
            self.assertEqual(RUN_KEYS - set(run), set(), "keys missing from %s" % run)
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
