"""The attention dashboard in a real browser: a real `tensorboard` process with the plugin, and
Debian's headless Chromium driven by Playwright (`.ci/run` installs chromium when missing).

Takes the screenshot the docs show (the translator_en_es preset's attention on one sentence) in
a temporary folder; with KERATTN_UPDATE_SCREENSHOT=1 it also replaces
docs/images/tensorboard_attention.png, so that a test run never changes a tracked file."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from playwright.sync_api import sync_playwright

import kerattn
from kerattn.visualization import log_attention
from tests.conftest import free_port

pytestmark = pytest.mark.slow

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "tensorboard_attention.png"
SENTENCE = "Save the document as PDF before you close the window."
TOY_SOURCE = ["j", "e", "d", "i", "c", "[END]"]
TOY_STEPS = {
    50: ["c", "c", "[END]"],
    100: ["c", "i", "d", "[END]"],
    150: ["c", "i", "d", "e", "j", "[END]"],
}  # the output grows as training goes on
REVIEW, REVIEW_WEIGHTS = ["a", "truly", "great", "film"], [0.05, 0.25, 0.6, 0.1]  # a classifier


def _write_logs(logdir: Path) -> dict:
    """toy/valid: a reversal probe at three steps; translator_en_es: the preset's attention."""
    with tf.summary.create_file_writer(str(logdir / "toy" / "valid")).as_default():
        for step, target in TOY_STEPS.items():
            weights = np.random.default_rng(step).random((len(target), len(TOY_SOURCE)))
            log_attention(
                "attention/probe_0",
                TOY_SOURCE,
                weights / weights.sum(1, keepdims=True),
                target,
                step=step,
                text="j e d i c",
            )
            log_attention(
                "attention/probe_1",
                REVIEW,
                REVIEW_WEIGHTS,
                ["pos"],
                step=step,
                text="a truly great film",
            )
    result = kerattn.zoo.load("translator_en_es").translate([SENTENCE])[0]
    with tf.summary.create_file_writer(str(logdir / "translator_en_es")).as_default():
        log_attention(
            "attention/probe_0",
            result.source_tokens,
            result.attention,
            result.tokens,
            step=0,
            text=SENTENCE,
        )
    return {"source": list(result.source_tokens), "target": list(result.tokens)}


def _wait_for_plugin(base: str, expected: bytes, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/data/plugin/attention/runs", timeout=5) as answer:
                if expected in answer.read():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"tensorboard at {base} did not serve the attention runs in {timeout} s")


@contextlib.contextmanager
def _tensorboard(logdir: Path, expected: bytes):
    """A real `tensorboard` on a free port of 127.0.0.1, once its attention runs list `expected`."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tensorboard")),
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_plugin(base, expected)
        yield base
    finally:
        process.terminate()  # stops its data-server child too
        process.wait(timeout=30)


@contextlib.contextmanager
def _browser_page():
    """A page of Debian's headless Chromium that reaches 127.0.0.1 only, and its script errors."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: apt-get install chromium (.ci/run does)."
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith("http://127.0.0.1")
                    else route.abort()
                ),
            )
            script_errors = []
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            yield page, script_errors
        finally:
            browser.close()


@pytest.fixture
def tensorboard_url(tmp_path):
    logged = _write_logs(tmp_path / "logs")
    with _tensorboard(tmp_path / "logs", b"translator_en_es") as base:
        yield base, logged


def test_old_event_files_get_a_clear_message(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path / "old_run" / "valid")).as_default():
        tf.summary.image("attention/probe_0", tf.zeros([1, 4, 4, 3]), step=1)  # PNG heatmaps only
    with _tensorboard(tmp_path, b"old_run/valid") as base, _browser_page() as (page, errors):
        page.goto(f"{base}/#attention")
        message = page.frame_locator("iframe").locator("#message")
        message.filter(has_text="No attention summaries").wait_for(timeout=60_000)
        assert "old_run/valid" in message.inner_text() and "log_attention" in message.inner_text()
        assert errors == []


def test_dashboard_renders_tokens_cells_slider_and_screenshot(tensorboard_url, tmp_path):
    base, logged = tensorboard_url
    screenshot = tmp_path / SCREENSHOT.name
    with _browser_page() as (page, script_errors):
        page.goto(f"{base}/#attention")
        dashboard = page.frame_locator("iframe")
        cells = dashboard.locator("#heatmap .cell")

        # The toy run first: its last step, then the slider back to the first step.
        dashboard.locator("#run-select").select_option("toy/valid")
        dashboard.locator("#step-info").filter(has_text="step 150").wait_for(timeout=60_000)
        assert cells.count() == len(TOY_STEPS[150]) * len(TOY_SOURCE)
        assert dashboard.locator(".chart").count() == 4  # the trainer's four diagnostics
        dashboard.locator("#step-slider").fill("0")
        dashboard.locator("#step-info").filter(has_text="step 50").wait_for()
        assert cells.count() == len(TOY_STEPS[50]) * len(TOY_SOURCE)
        assert dashboard.locator(".target-token").all_inner_texts() == TOY_STEPS[50]
        assert dashboard.locator(".cell.argmax").count() == len(TOY_STEPS[50])

        # A classifier probe: the text, each token shaded by its weight.
        dashboard.locator("#probe-select").select_option("attention/probe_1")
        tokens = dashboard.locator("#token-text .token")
        tokens.first.wait_for()
        assert tokens.all_text_contents() == REVIEW
        assert [
            float(w) for w in tokens.evaluate_all("nodes => nodes.map(node => node.dataset.weight)")
        ] == pytest.approx(REVIEW_WEIGHTS, abs=1e-4)

        # The preset's probe: every token on both axes, one cell per weight, hover.
        dashboard.locator("#run-select").select_option("translator_en_es")
        dashboard.locator("#step-info").filter(has_text="step 0").wait_for()
        source, target = logged["source"], logged["target"]
        assert cells.count() == len(source) * len(target)
        assert dashboard.locator(".source-token").all_text_contents() == source
        assert dashboard.locator(".target-token").all_text_contents() == target
        cells.nth(len(source) * 2 + 2).hover()  # output token 3 over source token 3
        hover = dashboard.locator("#hover").inner_text()
        assert target[2] in hover and source[2] in hover and "weight" in hover
        page.screenshot(path=str(screenshot))
        assert script_errors == []
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("KERATTN_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, SCREENSHOT)


def test_a_late_answer_does_not_move_the_step_the_user_chose(tensorboard_url):
    # The page loads the first run's probe, and choosing that run again loads it a second
    # time; the first answer is held back until the user has moved the slider.
    base, _ = tensorboard_url
    with _browser_page() as (page, script_errors):
        held = []
        page.route(
            lambda url: "/probe?" in url,
            lambda route: held.append(route) if not held else route.continue_(),
        )
        page.goto(f"{base}/#attention")
        dashboard = page.frame_locator("iframe")
        step_info = dashboard.locator("#step-info")
        dashboard.locator("#run-select").select_option("toy/valid")
        step_info.filter(has_text="step 150").wait_for(timeout=60_000)
        assert len(held) == 1  # the page's own first load, still unanswered
        dashboard.locator("#step-slider").fill("0")
        step_info.filter(has_text="step 50").wait_for()
        with page.expect_response(lambda response: "/probe?" in response.url):
            held[0].continue_()
        page.wait_for_timeout(500)  # the page's handler of that answer has run
        assert step_info.inner_text().startswith("step 50")
        assert script_errors == []
