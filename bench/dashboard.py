#!/usr/bin/env python3
"""The built-in dashboard under load: is it still smooth with 100 calls?

Starts the release server in sandbox mode, opens `/` in headless Chromium
through ChromeDriver (plain WebDriver JSON over HTTP, standard library
only), places CALLS simulated calls with `qloophone load` (the
two-films-to-a-film scenario: transcripts, tool calls, a key press each),
and reports what the page's main thread went through while they ran:
animation-frame gaps (p50, p99, max), long tasks (over 50 ms: count and
total), the most calls it listed in progress at once, the rows it listed
at the end, and its JS heap.

    bench/dashboard.py [CALLS] [PORT]

Needs Debian's chromium and chromium-driver, and `cargo build --release`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8091
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "qloophone")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on {port}")


class WebDriver:
    def __init__(self, base):
        self.base = base
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.load(response)["value"]

    def start(self, profile):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,900",
                f"--user-data-dir={profile}"]
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": shutil.which("chromium"), "args": args}}}})
        self.session = value["sessionId"]

    def go(self, url):
        self.call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script):
        return self.call("POST", f"/session/{self.session}/execute/sync",
                         {"script": script, "args": []})

    def quit(self):
        if self.session:
            self.call("DELETE", f"/session/{self.session}")


PROBE = """
window.__probe = {gaps: [], long: [], peak: 0, last: performance.now()};
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) window.__probe.long.push(entry.duration);
}).observe({type: 'longtask', buffered: true});
const tick = now => {
  const p = window.__probe;
  p.gaps.push(now - p.last);
  p.last = now;
  p.peak = Math.max(p.peak, document.querySelectorAll('#live-list .row').length);
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
return true;
"""

REPORT = """
const p = window.__probe;
const gaps = p.gaps.slice(1).sort((a, b) => a - b);
const at = q => gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] : null;
return {
  frames: gaps.length,
  frame_gap_ms: {p50: at(0.5), p99: at(0.99), max: gaps[gaps.length - 1] || null},
  long_tasks: p.long.length,
  long_task_ms: p.long.reduce((a, b) => a + b, 0),
  peak_in_progress_listed: p.peak,
  rows_listed_at_end: document.querySelectorAll('.row').length,
  js_heap_mib: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
};
"""


def main():
    if not os.path.exists(BINARY):
        raise SystemExit("build first: cargo build --release")
    env = dict(os.environ, PORT=str(PORT), QLOOPHONE_SERVER__PORT=str(PORT))
    server = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    driver_port = free_port()
    driver = subprocess.Popen([shutil.which("chromedriver"), f"--port={driver_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = WebDriver(f"http://127.0.0.1:{driver_port}")
    profile = tempfile.mkdtemp()
    try:
        wait_for(PORT)
        wait_for(driver_port)
        browser.start(profile)
        browser.go(f"http://127.0.0.1:{PORT}/")
        for _ in range(100):
            if browser.run("return document.getElementById('link').textContent") == "live":
                break
            time.sleep(0.1)
        browser.run(PROBE)
        load = subprocess.run(
            [BINARY, "load", "--url", f"http://127.0.0.1:{PORT}", "--calls", str(CALLS),
             "--ramp-ms", "3000", "--json"],
            capture_output=True, text=True, check=False)
        time.sleep(1.5)  # the last ends reach the page
        page = browser.run(REPORT)
        report = json.loads(load.stdout.strip().splitlines()[-1]) if load.stdout.strip() else {}
        print(json.dumps({
            "calls": CALLS,
            "calls_completed": report.get("completed", report.get("calls_completed")),
            "page": page,
        }))
    finally:
        browser.quit()
        driver.terminate()
        server.terminate()
        server.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
