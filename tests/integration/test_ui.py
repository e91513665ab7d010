"""
test_ui.py - the status page (GET /, /ui.js, /ui.css) of the [http]
listener.

Without a browser: the three files are served from the binary, byte for
byte the sources, with their content types, a strict Content-Security-
Policy, nosniff and a validator (304 on If-None-Match), no key needed;
nothing in them points outside the server; GET /v1/stats needs a key.

In a real browser (Debian's chromium, headless, driven by chromedriver
through python3-selenium, with no network beyond loopback): a wrong key
shows the refusal; the right key shows a message deferred by its remote
peer in the queue table and the `delivered` event of a message delivered
locally; a message sent after the page loaded shows up without a reload
(the page refreshes from the API); no CSP or Trusted Types violation is
reported; the key stays out of the URL.
"""

import pathlib
import re

import pytest
from selenium import webdriver
from selenium.common.exceptions import (StaleElementReferenceException,
                                        TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api_util import *  # noqa: F401,F403
from conftest import HOST, wait_until
from outbound_util import *  # noqa: F401,F403

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "http"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 15           # seconds, for anything the page shows

PAGES = [("/", "ui.html", "text/html; charset=utf-8"),
         ("/ui.js", "ui.js", "text/javascript; charset=utf-8"),
         ("/ui.css", "ui.css", "text/css; charset=utf-8"),
         ("/ui.svg", "ui.svg", "image/svg+xml")]


@pytest.fixture
def deferring(api_relais, outbound, dns, peers):
    """relais with [http]; mail to remote.example is deferred (451) by a
    capture peer on 127.0.0.2, mail to example.test is delivered locally."""
    dns.set("remote.example", {"MX": [(10, "mx.remote.example")]})
    dns.set("mx.remote.example", {"A": ["127.0.0.2"]})
    peer = peers("127.0.0.2")
    peer.script["RCPT"] = {"bob@remote.example": "451 4.3.0 try later"}
    r, api = api_relais(factory=outbound, relay={"retry_min": "1h",
                                                 "retry_max": "1h"})
    return r, api, peer


def send(api, to, subject="ui"):
    st, _, ans = api.send({"from": "alice@example.test", "to": to,
                           "subject": subject, "text": "x"})
    assert st == 202, ans
    return ans["id"]


def api_events(api, qid, etype):
    st, _, ev = api.req("GET", "/v1/events?since=0&limit=1000")
    assert st == 200, ev
    return [e for e in ev["events"] if e.get("message_id") == qid and
            e["type"] == etype]


# --- the files, over plain HTTP -------------------------------------------

def test_assets_served(deferring):
    r, api, _ = deferring
    etags = {}
    for path, name, ctype in PAGES:
        st, hd, body = api.req("GET", path, token=None)
        assert st == 200, (path, body)
        assert body == (SRC / name).read_bytes(), f"{path}: not the embedded {name}"
        assert hd["content-type"] == ctype
        assert hd["x-content-type-options"] == "nosniff"
        assert hd["cache-control"] == "no-cache"
        csp = hd["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "require-trusted-types-for 'script'" in csp
        assert "unsafe" not in csp and "*" not in csp and "http" not in csp
        assert hd["referrer-policy"] == "no-referrer"
        etags[path] = hd["etag"]
        # revalidation: 304 without a body
        st, hd2, body = api.req("GET", path, token=None,
                                headers={"If-None-Match": hd["etag"]})
        assert st == 304 and body == b"" and hd2["etag"] == hd["etag"]
        st, _, body = api.req("HEAD", path, token=None)
        assert st == 200 and body == b""
        assert api.req("POST", path, token=None, body="x")[0] == 405
    assert len(set(etags.values())) == len(PAGES)
    assert api.req("GET", "/ui.nope", token=None)[0] == 404
    assert api.req("GET", "/ui.js", token=None,
                   headers={"If-None-Match": etags["/"]})[0] == 200


def test_assets_self_contained():
    html = (SRC / "ui.html").read_text()
    js = (SRC / "ui.js").read_text()
    css = (SRC / "ui.css").read_text()
    svg = (SRC / "ui.svg").read_text().replace(
        'xmlns="http://www.w3.org/2000/svg"', "")   # a name, not a fetch
    # nothing from elsewhere: no scheme, no protocol-relative URL, no
    # inline script or style (the CSP would block them anyway)
    for name, text in (("ui.html", html), ("ui.js", js), ("ui.css", css),
                       ("ui.svg", svg)):
        assert not re.search(r"https?:|//[a-z0-9]|url\(|@import", text, re.I), name
    srcs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sorted(srcs) == ["/ui.css", "/ui.js", "/ui.svg"], srcs
    assert "<style" not in html and not re.search(r"<script>|\son[a-z]+=|style=", html)
    # data goes in as text only
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                         js)
    assert "sessionStorage" in js and "localStorage" not in js


def test_stats_needs_key(deferring):
    r, api, _ = deferring
    st, hd, body = api.req("GET", "/v1/stats", token=None)
    assert st == 401 and "www-authenticate" in hd
    qid = send(api, "carol@example.test")
    wait_until(lambda: api_events(api, qid, "delivered"), WAIT)
    st, _, s = api.req("GET", "/v1/stats")
    assert st == 200, s
    assert s["delivered"] >= 1 and s["received"] >= 1
    assert s["deferred"] >= 0 and s["bounced"] == 0
    assert s["events_last"] >= max(e["id"] for e in api_events(api, qid, "delivered"))
    assert set(s["queue"]) == {"recipients", "oldest_age"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["time"])


# --- in a real browser ----------------------------------------------------

@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium'}",
              # loopback only: names resolve to nothing, and whatever is
              # not loopback goes to a "proxy" on the discard port that
              # refuses (what chromium still tries despite the flags below -
              # sign-in, the search engine's preconnect, extension updates -
              # ends there)
              "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
              "--proxy-server=http://127.0.0.1:9",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-default-apps", "--disable-extensions",
              "--disable-domain-reliability", "--disable-client-side-phishing-detection",
              "--disable-field-trial-config", "--disable-breakpad",
              "--disable-search-engine-choice-screen", "--password-store=basic",
              "--no-first-run", "--no-default-browser-check", "--no-pings",
              "--disable-features=OptimizationHints,Translate,MediaRouter,"
              "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
              "NetworkTimeServiceQuerying",
              "--window-size=1280,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_path=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        driver.set_page_load_timeout(WAIT)
        driver.set_script_timeout(WAIT)
        yield driver
    finally:
        driver.quit()


def shown(driver, pred, what):
    # the page rebuilds its tables on every refresh: an element found may
    # be replaced before it is read
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)
                             ).until(lambda d: pred(d))
    except TimeoutException:
        raise AssertionError(f"the page did not show {what}; status: "
                             f"{driver.find_element(By.ID, 'status').text!r}; "
                             f"error: {driver.find_element(By.ID, 'error').text!r}")


def rows(driver, tbody):
    """a table's cells as [[text, title], ...] per row, read in one go
    (one script call: no refresh in between)"""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tr'),"
        " tr => Array.from(tr.cells, td => [td.textContent, td.title]));",
        f"#{tbody}")


def has_event(driver, qid, etype):
    return any(len(r) >= 3 and r[1][0] == etype and r[2][0] == qid
               for r in rows(driver, "events-body"))


def enter_key(driver, key):
    box = driver.find_element(By.ID, "key")
    box.clear()
    box.send_keys(key)
    driver.find_element(By.ID, "connect").click()


def test_status_page_in_browser(deferring, browser):
    r, api, peer = deferring
    deferred = send(api, "bob@remote.example", "deferred")
    delivered = send(api, "carol@example.test", "delivered")
    # what the page is to show is there (the API says so) before it loads
    wait_until(lambda: api.req("GET", f"/v1/messages/{deferred}")[2]
               ["recipients"][0]["attempts"] >= 1, WAIT)
    wait_until(lambda: api_events(api, delivered, "delivered"), WAIT)

    browser.get(f"http://{HOST}:{api.port}/")
    assert browser.title == "relais status"
    assert browser.find_element(By.ID, "dash").is_displayed() is False

    # a wrong key: the refusal, and the form again
    enter_key(browser, "relais_not-a-valid-key")
    err = shown(browser, lambda d: d.find_element(By.ID, "error").is_displayed() and
                d.find_element(By.ID, "error"), "the refused key")
    assert "refused (401)" in err.text and "invalid API key" in err.text
    assert browser.find_element(By.ID, "key").is_displayed()
    assert browser.execute_script(
        "return sessionStorage.getItem('relais.apikey')") is None

    # the right key: the queue and the events, from the API
    enter_key(browser, api.token)
    shown(browser, lambda d: d.find_element(By.ID, "dash").is_displayed(),
          "the dashboard")
    assert not browser.find_element(By.ID, "error").is_displayed()
    shown(browser, lambda d: deferred in d.find_element(By.ID, "queue-body").text,
          f"the deferred message {deferred} in the queue")
    q = rows(browser, "queue-body")
    assert len(q) == 1, q
    cells = [c[0] for c in q[0]]
    assert cells[0] == deferred and cells[1] == "alice@example.test"
    assert cells[4] == "bob@remote.example" and cells[5] == "queued"
    assert cells[6] == "1" and "451" in q[0][8][1]
    assert browser.find_element(By.ID, "q-msgs").text == "1"
    assert browser.find_element(By.ID, "q-rcpts").text == "1"
    assert deferred in browser.find_element(By.ID, "q-oldest-id").text
    shown(browser, lambda d: has_event(d, delivered, "delivered"),
          f"the delivered event of {delivered}")
    assert has_event(browser, deferred, "deferred")
    assert browser.find_element(By.ID, "t-delivered").text.endswith("since start")

    # it keeps refreshing: a message sent now shows up without a reload
    later = send(api, "bob@example.test", "later")
    shown(browser, lambda d: has_event(d, later, "delivered"),
          f"the delivered event of {later}, sent after the page loaded")
    # newest first
    ids = [row[2][0] for row in rows(browser, "events-body")]
    assert ids.index(later) < ids.index(delivered)
    shown(browser, lambda d: d.find_element(By.ID, "r-delivered").text != "-",
          "a delivery rate")

    assert api.token not in browser.current_url
    assert browser.execute_script(
        "return sessionStorage.getItem('relais.apikey')") == api.token
    # nothing went wrong in the page (a CSP or Trusted Types violation,
    # a script error, a file not found), but the wrong key's 401
    bad = [e["message"] for e in browser.get_log("browser")
           if e["level"] == "SEVERE" and not re.search(
               r"/v1/stats - Failed to load resource: .* 401", e["message"])]
    assert not bad, bad

    # forgetting the key
    browser.find_element(By.ID, "forget").click()
    shown(browser, lambda d: d.find_element(By.ID, "key").is_displayed(),
          "the key form after forgetting")
    assert browser.execute_script(
        "return sessionStorage.getItem('relais.apikey')") is None
