"""TF Serving's `--model_config_file_poll_wait_seconds`: the model config file re-read
periodically, its models applied with `ModelManager.set_configs` (docs/serving.md §2).

As in TF Serving (`server.cc` PollFilesystemAndReloadConfig), a file that cannot be read or
parsed on a later pass is logged and the running config kept; an unchanged file changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kerattn.serving.model_manager import ModelConfig, ModelManager

logger = logging.getLogger(__name__)


class ModelConfigPoller:
    """Re-reads a model config every `poll_wait_seconds` in a daemon thread.

    Args:
        manager: the manager whose models the config sets.
        read_configs: reads and parses the file (raises ValueError when it cannot).
        poll_wait_seconds: seconds between reads; 0 or less: never re-read (TF Serving's
            default 0).
    """

    def __init__(
        self,
        manager: ModelManager,
        read_configs: Callable[[], list[ModelConfig]],
        poll_wait_seconds: float,
    ):
        self.manager = manager
        self.read_configs = read_configs
        self.poll_wait_seconds = poll_wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: list[ModelConfig] | None = None

    def poll_once(self) -> bool:
        """Reads the config once; applies it if it changed. Returns whether it was applied."""
        try:
            configs = self.read_configs()
        except ValueError as error:
            logger.error("Keeping the running model config: %s", error)
            return False
        if configs == self._last:
            return False
        if self._last is not None:
            logger.info(
                "Model config file changed: serving %s",
                ", ".join(config.name for config in configs),
            )
        self.manager.set_configs(configs)
        self._last = configs
        return True

    def start(self, current: list[ModelConfig]) -> None:
        """Starts polling; `current` is the config the manager serves now."""
        self._last = list(current)
        if self.poll_wait_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="kerattn-config-poller", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling whatever one pass hit
                logger.exception("Model config poll failed.")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
