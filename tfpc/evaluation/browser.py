"""Headless Chromium driven over the DevTools protocol, standard library only.

Chromium's `--remote-debugging-pipe` speaks the DevTools protocol as
NUL-terminated JSON over file descriptors 3 (commands in) and 4 (replies and
events out): no WebDriver, no chromedriver, no websocket client. Used by the
report's browser test and to take the report's screenshot:

  python -m tfpc.evaluation.browser eval/report.html report.png [1280x2000]

(the whole page, or the top of it at that window size).
"""

import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe")


def find_chromium():
  """The Chromium binary (`$TFPC_CHROMIUM`, chromium, chromium-browser), or
  None."""
  candidates = [os.environ.get("TFPC_CHROMIUM"), "chromium",
                "chromium-browser", "google-chrome"]
  for name in filter(None, candidates):
    path = shutil.which(name)
    if path:
      return path
  return None


def _above_4(fd):
  """`fd` moved to a number above 4, so that dup2 to 3 and 4 clobbers none."""
  moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
  os.close(fd)
  return moved


class BrowserError(RuntimeError):
  """Chromium failed to start, or answered a command with an error."""


class Chromium:
  """One headless Chromium with one page; a context manager.

  `call(method, **params)` sends a DevTools command and returns its result;
  the events that arrive meanwhile are kept in `events` (method, params).
  """

  def __init__(self, width=1280, height=900, binary=None):
    binary = binary or find_chromium()
    if not binary:
      raise BrowserError("no Chromium found (install Debian's chromium)")
    self._profile = tempfile.mkdtemp(prefix="tfpc-chromium-")
    commands_read, self._commands = map(_above_4, os.pipe())
    self._replies, replies_write = map(_above_4, os.pipe())
    # The pipe ends become fds 3 and 4 of Chromium only (dup2 makes them
    # inheritable; Python's own fds are not, so close_fds is not needed).
    self._process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={self._profile}",
         f"--window-size={width},{height}", "about:blank"],
        close_fds=False, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: (os.dup2(commands_read, 3),
                            os.dup2(replies_write, 4)))
    os.close(commands_read)
    os.close(replies_write)
    self._buffer = b""
    self._next_id = 0
    self.events = []
    self.session = None
    try:
      self._attach(width, height)
    except BaseException:
      self.close()
      raise

  def _attach(self, width, height):
    targets = self.call("Target.getTargets")["targetInfos"]
    page = next(t["targetId"] for t in targets if t["type"] == "page")
    self.session = self.call("Target.attachToTarget", targetId=page,
                             flatten=True)["sessionId"]
    self.call("Emulation.setDeviceMetricsOverride", width=width,
              height=height, deviceScaleFactor=1, mobile=False)
    for domain in ("Page", "Runtime", "Log", "Network"):
      self.call(f"{domain}.enable")

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def close(self):
    """Closes the browser, its helper processes too, and its profile."""
    try:
      self._send({"id": 0, "method": "Browser.close"})
      self._process.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
      pass
    try:
      os.killpg(self._process.pid, signal.SIGKILL)  # its own session
    except ProcessLookupError:
      pass
    self._process.wait()
    os.close(self._commands)
    os.close(self._replies)
    shutil.rmtree(self._profile, ignore_errors=True)

  def _send(self, message):
    data = json.dumps(message).encode() + b"\0"
    while data:
      data = data[os.write(self._commands, data):]

  def _receive(self):
    while b"\0" not in self._buffer:
      chunk = os.read(self._replies, 1 << 20)
      if not chunk:
        raise BrowserError("Chromium closed the DevTools pipe")
      self._buffer += chunk
    message, self._buffer = self._buffer.split(b"\0", 1)
    return json.loads(message)

  def call(self, method, **params):
    """Sends a command (to the page once attached); returns its result."""
    self._next_id += 1
    message = {"id": self._next_id, "method": method, "params": params}
    if self.session and not method.startswith("Target."):
      message["sessionId"] = self.session
    self._send(message)
    while True:
      reply = self._receive()
      if reply.get("id") == self._next_id:
        if "error" in reply:
          raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})
      if "method" in reply:
        self.events.append((reply["method"], reply.get("params", {})))

  def wait_for(self, method, timeout=30):
    """Waits until an event `method` has arrived; returns its params."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
      for name, params in self.events:
        if name == method:
          return params
      self.call("Runtime.evaluate", expression="0")  # pumps events
      time.sleep(0.05)
    raise BrowserError(f"no {method} within {timeout} s")

  def open(self, path):
    """Loads a local file and waits for its load event."""
    self.events.clear()
    self.call("Page.navigate", url="file://" + os.path.abspath(path))
    self.wait_for("Page.loadEventFired")

  def evaluate(self, expression):
    """The value of a JavaScript expression (JSON-serializable)."""
    result = self.call("Runtime.evaluate", expression=expression,
                       returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in result:
      raise BrowserError(f"{expression[:60]}: "
                         f"{result['exceptionDetails'].get('text')}")
    return result["result"].get("value")

  def errors(self):
    """Console errors, uncaught exceptions and failed loads seen so far."""
    found = []
    for method, params in self.events:
      if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        found.append(details.get("exception", {}).get(
            "description", details.get("text")))
      elif method == "Runtime.consoleAPICalled" and params["type"] in (
          "error", "assert"):
        found.append(" ".join(str(a.get("value", a.get("description")))
                              for a in params["args"]))
      elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        found.append(params["entry"]["text"])
      elif method == "Network.loadingFailed":
        found.append(f"load failed: {params.get('errorText')}")
    return found

  def requested_urls(self):
    return [params["request"]["url"] for method, params in self.events
            if method == "Network.requestWillBeSent"]

  def mouse(self, kind, x, y, buttons=0):
    """A real mouse event: kind is mouseMoved, mousePressed, mouseReleased."""
    self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y,
              button="left" if kind != "mouseMoved" or buttons else "none",
              buttons=buttons, clickCount=1 if kind != "mouseMoved" else 0)

  def key(self, key):
    self.call("Input.dispatchKeyEvent", type="keyDown", key=key)
    self.call("Input.dispatchKeyEvent", type="keyUp", key=key)

  def screenshot(self, full_page=False):
    """PNG bytes of the viewport (or of the whole page)."""
    params = {"format": "png"}
    if full_page:
      size = self.call("Page.getLayoutMetrics")["cssContentSize"]
      params.update(captureBeyondViewport=True, clip={
          "x": 0, "y": 0, "width": size["width"], "height": size["height"],
          "scale": 1})
    return base64.b64decode(self.call("Page.captureScreenshot",
                                      **params)["data"])


def main(argv):
  if len(argv) not in (3, 4):
    sys.exit("usage: python -m tfpc.evaluation.browser PAGE.html SHOT.png "
             "[WIDTHxHEIGHT]")
  size = [int(v) for v in argv[3].split("x")] if len(argv) == 4 else []
  with Chromium(*size) as browser:
    browser.open(argv[1])
    with open(argv[2], "wb") as f:
      f.write(browser.screenshot(full_page=not size))
    for error in browser.errors():
      print(f"page error: {error}", file=sys.stderr)


if __name__ == "__main__":
  main(sys.argv)
