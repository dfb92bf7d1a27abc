"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on fd 3,
answers on fd 4, each JSON message ended by a NUL byte), with Python's standard library only. Used by the
checks that need a real browser (Tests/serve/check, Tests/report/check).

    with Chromium(work_dir) as c:
        page = c.new_page()
        c.navigate(page, "http://...")
        c.evaluate(page, "document.title")
"""
import base64, json, os, shutil, subprocess, time


def find_browser():
    return os.environ.get("CHROMIUM") or next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


class Chromium:
    def __init__(self, work, browser=None, timeout=60):
        self.browser = browser or find_browser()
        if not self.browser:
            raise RuntimeError("no chromium found: apt-get install -y chromium (or set CHROMIUM)")
        self.work, self.timeout = work, timeout
        self.buffer, self.next_id, self.events = b"", 0, []

    def __enter__(self):
        r_cmd, self.w_cmd = os.pipe()   # we write commands, Chromium reads them on fd 3
        self.r_out, w_out = os.pipe()   # Chromium writes answers on fd 4

        def child_fds():
            # The pipe ends may be fds 3 and 4 themselves: move them out of the way first.
            a, b = os.dup2(r_cmd, 100), os.dup2(w_out, 101)
            os.dup2(a, 3); os.dup2(b, 4)
            os.set_inheritable(3, True); os.set_inheritable(4, True)
        self.log = os.path.join(self.work, "chromium.log")
        self.proc = subprocess.Popen(
            [self.browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-extensions", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--force-device-scale-factor=1", "--remote-debugging-pipe",
             f"--user-data-dir={self.work}/profile", "about:blank"],
            close_fds=False, preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        os.close(r_cmd); os.close(w_out)
        return self

    def __exit__(self, *exc):
        try: self.call("Browser.close", timeout=5)
        except Exception: pass
        self.proc.kill(); self.proc.wait()
        os.close(self.w_cmd); os.close(self.r_out)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session: msg["sessionId"] = session
        os.write(self.w_cmd, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def read(self, deadline):
        while b"\0" not in self.buffer:
            if time.time() > deadline: raise TimeoutError("no answer from chromium")
            chunk = os.read(self.r_out, 1 << 16)
            if not chunk: raise EOFError("chromium closed the pipe: " + open(self.log).read()[-2000:])
            self.buffer += chunk
        msg, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=None):
        i = self.send(method, params, session); deadline = time.time() + (timeout or self.timeout)
        while True:
            m = self.read(deadline)
            if m.get("id") == i:
                if "error" in m: raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, name, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while True:
            for k, e in enumerate(self.events):
                if e.get("method") == name: del self.events[k]; return e
            self.events.append(self.read(deadline))

    def new_page(self, width=1400, height=900, mobile=False):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        page = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=page)
        self.call("Runtime.enable", session=page)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}, page)
        return page

    def navigate(self, page, url):
        self.call("Page.navigate", {"url": url}, page)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, page, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, page)
        if "exceptionDetails" in r: raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def console_errors(self):
        """Console errors and uncaught exceptions seen so far (Runtime events)."""
        out = []
        for e in self.events:
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("text", "exception"))
            elif e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"].get("args", [])))
        return out

    def full_page_png(self, page, path, width=1400):
        """A screenshot of the whole page at `width` (the window grown to the page's height); returns (w, h)."""
        height = int(self.evaluate(page, "Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight))"))
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, page)
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}, page)["data"]
        open(path, "wb").write(base64.b64decode(data))
        return width, height
