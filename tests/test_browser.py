"""The report and optuna-dashboard as a person sees them: headless Chromium, a real page.

Debian's ``chromium`` and ``chromium-driver`` packages drive it (``.ci/run`` installs them);
selenium is pointed at ``/usr/bin/chromedriver`` so its manager never downloads a browser.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from search.cli import main
from search.confirm import statement
from search.report import FIGURES, HTML_NAME, describe_params, verdict_line
from search.study import Snapshot
from search.summary import fmt

from .conftest import ROOT, write_tiny_spec

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")
WAIT = 60  # seconds for a page to render on a busy 2-core machine
NARROW = 1300  # px: a laptop window the report's fixed-width tables must fit

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and os.environ.get("CI") != "true":
    pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium "
                "chromium-driver; .ci/run does it in CI)", allow_module_level=True)
if os.environ.get("CI") != "true":
    pytest.importorskip("selenium", reason="needs selenium (pip install -e '.[dev]')")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 4-trial study with its report written; returns (spec, report folder, the study)."""
    folder = tmp_path_factory.mktemp("browser")
    spec = write_tiny_spec(folder, "web", trials=4, epochs=3)  # 2 folds, 2 confirmation seeds
    assert main(["run", str(spec), "--no-progress"]) == 0
    assert main(["report", str(spec), "-o", str(folder / "report")]) == 0
    st = optuna.load_study(study_name="web", storage=f"sqlite:///{folder / 'regsearch.db'}")
    return spec, folder / "report", st


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a fresh profile, driven through Debian's chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def shows(driver, text: str) -> str:
    """Wait until the rendered page's text contains ``text``; return that text."""
    WebDriverWait(driver, WAIT).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)
    return driver.find_element(By.TAG_NAME, "body").text


def images_loaded(driver) -> bool:
    """Every image on the page decoded to a real picture (a broken one has naturalWidth 0)."""
    return driver.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def test_report_page_leads_with_the_confirmed_answer(study, browser):
    _, report, st = study
    confirmation = st.user_attrs["confirmation"]
    other = confirmation["settings"][1]  # the regularized setting confirmation judged
    browser.set_window_size(NARROW, 1000)
    browser.get((report / HTML_NAME).as_uri())
    shows(browser, "Answer")
    assert browser.find_element(By.ID, "study-name").text == "web"
    assert browser.find_element(By.ID, "trial-count").text == str(Snapshot(st).counts["trials"])
    # The answer first, in the one wording every output uses.
    assert browser.find_element(By.ID, "statement").text == statement(confirmation)
    assert browser.find_element(By.ID, "confirmation-verdict").text == verdict_line(confirmation)
    assert (browser.find_element(By.ID, "answer-params").text
            == describe_params(confirmation["params"]))
    assert browser.find_element(By.ID, "chosen-params").text == describe_params(other["params"])
    top = {i: browser.find_element(By.ID, i).location["y"]
           for i in ("statement", "differences", "confirmation-table", "settings-table")}
    assert top["statement"] < top["differences"] < top["confirmation-table"] \
        < top["settings-table"], top
    rows = browser.find_elements(By.XPATH, "//table[@id='differences']//tr[td]")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == \
        ["test accuracy", "train accuracy", "gap (train - test)",
         "score (test - gap_weight x |gap|)"]
    mean = browser.find_element(By.XPATH, "//table[@id='differences']//tr[td][1]/td[2]").text
    assert mean == f"{confirmation['difference']['test_accuracy']['mean']:+.4f}"
    assert len(browser.find_elements(By.TAG_NAME, "img")) == len(FIGURES)
    assert images_loaded(browser)

    # The confirmation table fits the window: no column runs off the right edge.
    left, width, viewport = browser.execute_script(
        "var r = document.getElementById('confirmation-table').getBoundingClientRect();"
        "return [r.left, r.width, document.documentElement.clientWidth];")
    assert left >= 0 and left + width <= viewport, (left, width, viewport)

    # The trials table shows each trial's user attributes: the confirmed trial's row, by column.
    columns = [th.text for th in browser.find_elements(By.XPATH,
                                                       "//table[@id='trials']/thead/tr/th")]
    row = browser.find_element(
        By.XPATH, f"//table[@id='trials']/tbody/tr[td[1]='{other['trial']}']")
    cells = dict(zip(columns, (td.text for td in row.find_elements(By.TAG_NAME, "td"))))
    attrs = st.trials[other["trial"]].user_attrs
    for key in ("train_accuracy", "val_accuracy", "gap"):
        assert cells[key] == fmt(attrs[key]), key

    # Sorting the trials table by a click: the number column descending, then ascending.
    header = browser.find_element(By.XPATH, "//table[@id='trials']//th[text()='number']")

    def numbers() -> list[int]:
        cells = browser.find_elements(By.XPATH, "//table[@id='trials']/tbody/tr/td[1]")
        return [int(td.text) for td in cells]

    header.click()
    assert numbers() == list(range(len(st.trials)))
    header.click()
    assert numbers() == list(range(len(st.trials)))[::-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard(study, tmp_path):
    """``regsearch dashboard`` on the study's storage, on a free loopback port; its base URL."""
    spec = study[0]
    port = free_port()
    log = (tmp_path / "dashboard.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "search.cli", "dashboard", str(spec),
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/studies", timeout=2) as r:
                    summaries = json.load(r)["study_summaries"]
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    pytest.fail("optuna-dashboard did not start:\n"
                                + (tmp_path / "dashboard.log").read_text())
                time.sleep(0.5)
        study_id = next(s["study_id"] for s in summaries if s["study_name"] == "web")
        yield url, study_id
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_dashboard_shows_the_study_its_trials_and_the_answer_note(study, dashboard, browser):
    _, _, st = study
    confirmation, n_trials = st.user_attrs["confirmation"], len(st.trials)
    url, study_id = dashboard
    browser.get(f"{url}/dashboard/")
    shows(browser, "web")

    browser.get(f"{url}/dashboard/studies/{study_id}/trials")
    shows(browser, f"{n_trials} Trials")  # the baseline's trial included

    browser.get(f"{url}/dashboard/studies/{study_id}/note")
    text = shows(browser, statement(confirmation))  # as on the page, escapes rendered away
    assert f"web: use {describe_params(confirmation['params'])}" in text
    assert verdict_line(confirmation) in text
    assert describe_params(confirmation["settings"][1]["params"]) in text
    assert f"{Snapshot(st).counts['trials']} trials besides the baseline" in text
    # The figures in the note are the report's PNGs, served as artifacts via --artifact-dir.
    WebDriverWait(browser, WAIT).until(
        lambda d: len(d.find_elements(By.TAG_NAME, "img")) == len(FIGURES) and images_loaded(d))
