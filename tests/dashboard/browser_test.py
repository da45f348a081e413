#!/usr/bin/env python3
"""The web dashboard in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by python3-selenium) against a real `orca serve` on a
loopback port in a temporary directory, with API tokens, so the page has to ask for
one.

usage: browser_test.py --orca PATH --screenshots DIR [--docs DIR] [--cases current|new-api]

--cases current (the default) runs what the API of this tree serves: the token
prompt, jobs submitted through the API appearing on the page without a reload, a
dead job's audit timeline, requeueing it, cancelling a running job from the page,
every view's screenshot, narrow and dark renderings, and no Content-Security-Policy
violation. --cases new-api runs what needs the endpoints of the dashboard contract
that the broker and the live stream add (pause/resume, GET /api/events): pausing a
queue from the page and seeing its pending count grow while nothing runs, then
resuming it. Each check fails with what it saw; nothing is skipped.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ADMIN_TOKEN = "dashboard-admin-0123456789abcdef"
ARGS = None


class Server:
    """`orca serve` with one node of concurrency 4, on 127.0.0.1 with a free port, and an
    `orca worker` process beside it on the same store."""

    def __init__(self, orca, directory):
        env = dict(os.environ, ORCA_API_TOKENS="admin " + ADMIN_TOKEN + " ops")
        self.log_path = os.path.join(directory, "serve.log")
        self.log = open(self.log_path, "w")
        # Serve's node runs every built-in type but echo; a separate `orca worker`
        # process on the same store runs echo, so the page also shows a fleet.
        self.proc = subprocess.Popen(
            [orca, "serve", "--db", os.path.join(directory, "jobs.db"), "--listen", "127.0.0.1:0",
             "-c", "4", "--heartbeat", "200ms", "--lease", "2s", "--duration", "120s",
             "--type", "noop", "--type", "sleep", "--type", "fail"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=directory)
        self.worker = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = re.search(r"dashboard on (http://127\.0\.0\.1:\d+)/", open(self.log_path).read())
            if m:
                self.url = m.group(1)
                self.worker = subprocess.Popen(
                    [orca, "worker", "--db", os.path.join(directory, "jobs.db"), "-c", "4",
                     "--heartbeat", "200ms", "--lease", "2s", "--duration", "120s", "--type", "echo",
                     "--id", "worker-1", "-q"],
                    stdout=self.log, stderr=subprocess.STDOUT, cwd=directory)
                while time.monotonic() < deadline:
                    if len([n for n in self.call("GET", "/api/nodes") if n["state"] == "alive"]) == 2:
                        return
                    time.sleep(0.05)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("orca serve did not start: " + open(self.log_path).read())

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + ADMIN_TOKEN)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def wait_job(self, job_id, states, timeout=15):
        deadline = time.monotonic() + timeout
        job = None
        while time.monotonic() < deadline:
            job = self.call("GET", "/api/jobs/%d" % job_id)
            if job["state"] in states:
                return job
            time.sleep(0.05)
        raise AssertionError("job %d: got state %s, want one of %s" % (job_id, job and job["state"], states))

    def stop(self):
        running = [p for p in (self.worker, self.proc) if p is not None and p.poll() is None]
        for proc in running:  # both at once: each takes a moment to stop
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.log.close()


def chromium():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,800", "--no-first-run", "--disable-extensions",
                 "--force-device-scale-factor=1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


class DashboardCase(unittest.TestCase):
    """One server and one browser for all the cases of a class (they take seconds to start)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="orca-dashboard-")
        cls.server = Server(ARGS.orca, cls.dir)
        try:
            cls.driver = chromium()
        except Exception:
            cls.server.stop()
            raise
        cls.viewport(1280, 800)
        cls.driver.get(cls.server.url + "/")
        # The API has tokens: the page asks for one before it shows anything.
        token = cls.wait_static(lambda d: d.find_element(By.ID, "token-input") if d.find_element(By.ID, "token-dialog").get_attribute("open") is not None else None)
        token.send_keys(ADMIN_TOKEN + Keys.ENTER)

    @classmethod
    def viewport(cls, width, height):
        """Sizes the page's viewport (the window minus its frame) to width x height."""
        cls.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def wait_static(cls, condition, timeout=10, what="the page"):
        try:
            return WebDriverWait(cls.driver, timeout, poll_frequency=0.05).until(condition)
        except TimeoutException:
            raise AssertionError("timed out waiting for " + what) from None

    def wait(self, condition, timeout=10, what="the page"):
        return self.wait_static(condition, timeout, what)

    def go(self, hash_route):
        self.driver.get(self.server.url + "/" + hash_route)
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, "main h1"), what="a view under " + hash_route)

    def text(self, css):
        """An element's text, read in one script (a live redraw may replace it between
        two WebDriver calls); "" while it is not on the page."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css)

    def click(self, by, value):
        """Clicks an element once it is on the page; a live redraw may replace it between
        finding and clicking, and then it is found again."""
        def clicked(d):
            try:
                d.find_element(by, value).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        self.wait(clicked, what="%s to click" % value)

    def job_ids(self):
        """The ids of the listed jobs, read in one script (see text())."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#jobs tbody tr')].map((r) => r.dataset.job);")

    def number(self, css):
        """The integer an element shows, or -1 while it is not on the page (a redraw)."""
        text = self.text(css).replace(",", "")
        return int(text) if text.isdigit() else -1

    def shot(self, name):
        os.makedirs(ARGS.screenshots, exist_ok=True)
        path = os.path.join(ARGS.screenshots, name + ".png")
        self.driver.save_screenshot(path)
        if ARGS.docs:
            os.makedirs(ARGS.docs, exist_ok=True)
            shutil.copy(path, os.path.join(ARGS.docs, name + ".png"))

    def accept_confirm(self):
        self.wait(lambda d: d.switch_to.alert, what="a confirmation").accept()

    def assert_no_csp_violations(self):
        logs = self.driver.get_log("browser")
        # The 401s before the token was given are expected (the page asks for one);
        # 404s are the contract's endpoints this server may not have yet.
        expected = ("status of 401", "status of 404")
        bad = [e["message"] for e in logs if "Content Security Policy" in e["message"] or
               (e["level"] == "SEVERE" and not any(x in e["message"] for x in expected))]
        self.assertEqual(bad, [], "browser console errors")


class CurrentApi(DashboardCase):
    """What the API of this tree serves."""

    def test_1_submitted_jobs_appear_without_a_reload(self):
        self.go("#/")
        self.wait(lambda d: d.find_element(By.ID, "queues"), what="the queues table or its placeholder")
        before = self.number('[data-total="succeeded"]')
        self.assertGreaterEqual(before, 0)
        self.server.call("POST", "/api/jobs", [{"type": "noop", "queue": "default"} for _ in range(5)]
                         + [{"type": "echo", "payload": '{"to": "ops", "n": 3}', "queue": "mail"}])
        # The page was not reloaded: the counts come from the event stream or its poll.
        self.wait(lambda d: self.number('[data-total="succeeded"]') >= before + 6,
                  timeout=12, what="6 more succeeded jobs in the overview's totals")
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-queue="mail"]'), what="queue mail in the table")
        self.assertEqual(self.text('tr[data-queue="mail"] td[data-state="succeeded"]'), "1")

    def test_2_dead_job_timeline_and_requeue(self):
        # `fail` with payload "2" fails the job's first 2 attempts (counted across
        # requeues): with 2 attempts it dies, requeued it succeeds.
        job = self.server.call("POST", "/api/jobs", {"type": "fail", "payload": "2", "max_attempts": 2,
                                                     "backoff_base_ms": 50, "backoff_jitter": 0,
                                                     "queue": "default"})
        job_id = job["id"]
        self.server.wait_job(job_id, ["dead"])
        self.go("#/job/%d" % job_id)
        self.wait(lambda d: d.find_element(By.ID, "audit"), what="the audit timeline")
        got = self.driver.execute_script(
            "return [...document.querySelectorAll('#audit li')].map((e) => [e.dataset.to, e.innerText]);")
        self.assertEqual(got[-1][0], "dead", "the timeline's last transition: got %s" % got)
        self.assertIn("retrying", [to for to, _ in got])
        self.assertIn("input/output error", got[-1][1].lower(), "the dead entry names the handler's error")
        self.assertIn("dead", self.text("main h1"))
        self.shot("job-dead")
        self.click(By.ID, "requeue")
        # Requeued by the token's name, run again, and this time it succeeds: the page
        # shows it without a reload.
        self.wait(lambda d: "by ops" in self.text("#audit"), what="the requeue in the timeline")
        self.wait(lambda d: "succeeded" in self.text("main h1"), timeout=15, what="the requeued job shown succeeded")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, '#audit li[data-to="succeeded"]'),
                  what="the success in the timeline")
        self.assertEqual(self.server.call("GET", "/api/jobs/%d" % job_id)["state"], "succeeded")
        self.shot("job-requeued")

    def test_3_cancel_a_running_job_from_the_page(self):
        job_id = self.server.call("POST", "/api/jobs", {"type": "sleep", "payload": "30000"})["id"]
        self.server.wait_job(job_id, ["running"])
        self.go("#/job/%d" % job_id)
        self.wait(lambda d: "running" in self.text("main h1"), what="the job shown running")
        self.click(By.ID, "cancel")
        self.accept_confirm()
        self.server.wait_job(job_id, ["cancelled"])
        self.wait(lambda d: "cancelled" in self.text("main h1"), what="the job shown cancelled")
        self.shot("job-cancelled")

    def test_4_queue_filters_and_paging(self):
        self.server.call("POST", "/api/jobs", [{"type": "noop", "queue": "paging"} for _ in range(55)])
        self.go("#/queue/paging")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) == 50, what="a first page of 50 jobs")
        first_page = self.job_ids()
        self.click(By.CSS_SELECTOR, '[data-key="older"]')
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) == 5, what="a second page of 5 jobs")
        second_page = self.job_ids()
        self.assertFalse(set(first_page) & set(second_page), "the pages overlap")
        self.click(By.CSS_SELECTOR, '[data-key="newer"]')
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) == 50, what="the first page again")
        # Filter by type, with the keyboard. A live refresh may redraw the form between
        # finding the field and typing: then the field is found again.
        self.go("#/queue/default")
        for attempt in range(5):
            field = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, 'input[name="type"]'))
            try:
                field.clear()
                field.send_keys("fail" + Keys.ENTER)
                break
            except StaleElementReferenceException:
                if attempt == 4:
                    raise
        self.wait(lambda d: "type=fail" in d.current_url, what="the filter in the address")
        types = lambda d: set(d.execute_script(
            "return [...document.querySelectorAll('#jobs tbody tr')].map((r) => r.cells[2].innerText);"))
        # The address changes first, the list when its call returns.
        try:
            self.wait(lambda d: types(d) == {"fail"}, what="only jobs of type fail listed")
        except AssertionError:
            raise AssertionError("got types %s at %s, want only fail" % (types(self.driver), self.driver.current_url)) from None
        self.go("#/queue/default")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr"))
        self.shot("queue")

    def test_5_every_view_renders(self):
        self.go("#/nodes")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#nodes tbody tr"), what="the node table")
        self.assertIn("alive", self.text("#nodes tbody tr"))
        self.shot("nodes")
        self.go("#/periodic")
        self.shot("periodic")
        self.go("#/resilience")
        self.shot("resilience")
        # A request in a sampled trace (its traceparent's flag 01): serve keeps its spans
        # for the dashboard by default. Reached from the job's page.
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        job_id = self.server.call("POST", "/api/jobs", {"type": "sleep", "payload": "30"},
                                  {"traceparent": "00-%s-00f067aa0ba902b7-01" % trace_id})["id"]
        self.server.wait_job(job_id, ["succeeded"])
        self.go("#/job/%d" % job_id)
        self.click(By.ID, "trace-link")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#spans li")) >= 3, what="the spans of the trace")
        spans = self.driver.execute_script(
            "return [...document.querySelectorAll('#spans .span-name')].map((e) => [e.innerText, e.className]);")
        self.assertEqual([name for name, _ in spans], ["POST /api/jobs", "enqueue", "job sleep"],
                         "the trace's spans in time order: got %s" % spans)
        depths = [int(re.search(r"depth-(\d+)", cls).group(1)) for _, cls in spans]
        self.assertEqual(depths, [0, 1, 2], "request -> enqueue -> attempt: got depths %s" % depths)
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "main table tbody tr"), what="the jobs of the trace")
        self.shot("trace")
        # Narrow (a phone) and dark.
        self.viewport(390, 844)
        try:
            self.go("#/")
            self.wait(lambda d: d.find_element(By.ID, "queues"))
            width = self.driver.execute_script("return document.documentElement.scrollWidth")
            self.assertLessEqual(width, 400, "the page scrolls sideways at 390 px (tables scroll in their box)")
            self.shot("overview-narrow")
        finally:
            self.viewport(1280, 800)
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                    {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        try:
            self.go("#/queue/default")
            self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr"))
            self.shot("queue-dark")
        finally:
            self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        self.assert_no_csp_violations()

    def test_6_keyboard_reaches_the_views(self):
        self.go("#/")
        self.driver.refresh()  # focus starts at the top of a freshly loaded page
        self.wait(lambda d: d.find_element(By.ID, "queues"))
        body = self.driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)  # the skip link first
        self.assertEqual(self.driver.switch_to.active_element.text, "Skip to content")
        for _ in range(3):  # brand, Overview, Jobs
            self.driver.switch_to.active_element.send_keys(Keys.TAB)
        self.assertEqual(self.driver.switch_to.active_element.text, "Jobs")
        self.driver.switch_to.active_element.send_keys(Keys.ENTER)
        self.wait(lambda d: self.text("main h1") == "Jobs", what="the Jobs view after Enter")

    def test_7_charts_show_the_jobs_a_worker_process_ran(self):
        # Echo jobs run only on the separate worker process: the center's series learn
        # of them from the broker, and the chart of their queue draws them.
        self.server.call("POST", "/api/jobs", [{"type": "echo", "payload": "hello", "queue": "fleet"}
                                               for _ in range(20)])
        self.go("#/")
        self.wait(lambda d: self.text('tr[data-queue="fleet"] td[data-state="succeeded"]') == "20",
                  what="20 succeeded jobs in queue fleet")
        # The queue picked in the chart's menu, in one script (a redraw keeps the pick).
        finished = lambda d: d.execute_script(
            "const s = document.getElementById('chart-queue');"
            "if (s && s.value !== 'fleet') { s.value = 'fleet'; s.dispatchEvent(new Event('change')); }"
            "const c = Chart.getChart(document.getElementById('throughput'));"
            "return c ? c.data.datasets[0].data.reduce((n, p) => n + p.y, 0) : 0;")
        # A point closes every 5 s, and reaches the page as a `series` event.
        self.wait(lambda d: finished(d) > 0, timeout=15, what="queue fleet's jobs in the throughput chart")
        # Their latency too (an echo runs in under a millisecond: a run time of 0 is a
        # measure, null is none).
        points = self.server.call("GET", "/api/stats/series?minutes=5")["queues"].get("fleet", [])
        self.assertTrue([p for p in points if p["run_p99_ms"] is not None and p["wait_p99_ms"] is not None],
                        "no latency for the worker's jobs: got %s" % [p for p in points if p["finished"]])
        self.assertEqual(self.server.call("GET", "/api/jobs?queue=fleet&limit=1")[0]["node"], "worker-1")
        self.shot("overview")


class NewApi(DashboardCase):
    """What needs the contract's new endpoints (pause/resume, the event stream)."""

    def test_1_event_stream_is_live(self):
        self.go("#/")
        self.wait(lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "live",
                  what="the event stream connected")

    def test_2_pause_holds_jobs_and_resume_runs_them(self):
        queue = "held"
        self.server.call("POST", "/api/jobs", {"type": "noop", "queue": queue})
        self.go("#/queue/" + queue)
        self.wait(lambda d: self.text("#pause") == "Pause queue", what="the pause button")
        self.click(By.ID, "pause")
        self.wait(lambda d: self.text("#pause") == "Resume queue", what="the queue shown paused")
        self.server.call("POST", "/api/jobs", [{"type": "noop", "queue": queue} for _ in range(3)])
        pending = lambda d: self.text('.tabs a[data-key="tab-pending"]') or ""
        self.wait(lambda d: pending(d).endswith(" 3"), what="3 pending jobs in the paused queue")
        time.sleep(1)  # nothing runs while paused: the node would take a job in milliseconds
        counts = [q for q in self.server.call("GET", "/api/queues") if q["queue"] == queue][0]["counts"]
        self.assertEqual(counts.get("pending"), 3, "got counts %s" % counts)
        self.assertEqual(counts.get("succeeded", 0), 1, "got counts %s" % counts)
        self.shot("queue-paused")
        self.click(By.ID, "pause")
        self.wait(lambda d: self.text('.tabs a[data-key="tab-succeeded"]').endswith(" 4"), what="4 succeeded after resuming")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--orca", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--docs", help="also copy the screenshots here (docs/dashboard)")
    parser.add_argument("--cases", choices=["current", "new-api"], default="current")
    ARGS, rest = parser.parse_known_args()
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool) and not os.path.exists("/usr/bin/" + tool):
            sys.exit("browser_test: %s not found (Debian packages chromium and chromium-driver: scripts/deps)" % tool)
    started = time.monotonic()
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(CurrentApi if ARGS.cases == "current" else NewApi)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    print("browser_test: %d case(s) in %.1f s" % (result.testsRun, time.monotonic() - started))
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)


if __name__ == "__main__":
    main()
