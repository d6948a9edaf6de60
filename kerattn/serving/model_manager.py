"""Discovers, loads and unloads the SavedModel versions of the served models (docs/serving.md §2).

`ModelManager` follows `--model_base_path` folders the way TF Serving's file-system source and
`AvailabilityPreservingPolicy` do (docs/serving.md §2):

* a child of the base path is a version iff its name parses like `absl::SimpleAtoi` (leading zeros
  and sign allowed; `tmp`, `1.partial` skipped);
* the version policy (`latest` N, default 1; `all`; `specific`) picks the aspired versions;
* a newly aspired version is loaded before the versions it replaces are unloaded, and nothing is
  unloaded while no aspired version is AVAILABLE, so a broken new version leaves the old one
  serving; the failure is kept in the version's status (state END, its error code and message);
* `poll_once()` runs one discovery pass; `start()` runs it every `poll_wait_seconds` in a daemon
  thread (0 = poll once, negative = never).

Every version ever seen keeps its state (START, LOADING, AVAILABLE, UNLOADING, END) for model
status; a failed load's message there names the version (`version 3/saved_model.pb`), never the
server's absolute paths, which only the server's log shows. A failed load is retried on later
passes, at most `max_load_retries` times and at least `load_retry_interval_seconds` apart (TF
Serving's `--max_num_load_retries` 5 and `--load_retry_interval_micros` 60 s; TF Serving retries
inside one load while kerattn retries on later discovery passes, and shows END with the last
error in between); a version whose folder disappears and comes back gets a fresh set of retries.

With `enable_model_warmup` (TF Serving's `--enable_model_warmup`, default on) a loaded version
replays its `assets.extra/tf_serving_warmup_requests` (`model_warmup`) before it becomes
AVAILABLE; a failing record fails the load.

The manager knows nothing about HTTP or gRPC: request handlers call `servable(...)`,
`version_statuses(...)` and get `ServingError`s with TF Serving's codes and texts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from kerattn.export.version_folder import parse_version
from kerattn.serving.monitoring import METRICS
from kerattn.serving.serving_error import ServingError, from_exception

logger = logging.getLogger(__name__)

START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: TF Serving's `ModelConfig` (name, base path, version policy, labels).

    Args:
        name: the model name clients use in URLs and ModelSpecs.
        base_path: the folder holding the numeric version folders.
        policy: "latest", "all" or "specific".
        num_versions: how many of the highest versions "latest" serves.
        versions: the versions "specific" serves.
        labels: version label → version number.
    """

    name: str
    base_path: str
    policy: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    labels: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.policy not in ("latest", "all", "specific"):
            raise ValueError(
                f"`policy` must be 'latest', 'all' or 'specific'; received policy={self.policy!r}."
            )
        if self.policy == "latest" and self.num_versions < 1:
            raise ValueError(f"`num_versions` must be >= 1; received {self.num_versions}.")

    def aspired(self, available_on_disk: set[int]) -> set[int]:
        """The versions the policy wants served among those found on disk."""
        if self.policy == "all":
            return set(available_on_disk)
        if self.policy == "specific":
            return set(self.versions) & available_on_disk
        return set(sorted(available_on_disk, reverse=True)[: self.num_versions])


def model_configs_from_proto(server_config) -> list[ModelConfig]:
    """`ModelConfig`s from a `tensorflow.serving.ModelServerConfig` message (config file)."""
    if server_config.WhichOneof("config") != "model_config_list":
        raise ValueError(
            "ServerModelConfig type not supported by HandleReloadConfigRequest. "
            "Only ModelConfigList is currently supported"
        )
    configs = []
    for config in server_config.model_config_list.config:
        policy = config.model_version_policy.WhichOneof("policy_choice") or "latest"
        num_versions = 1
        if policy == "latest" and config.model_version_policy.latest.num_versions:
            num_versions = config.model_version_policy.latest.num_versions
        configs.append(
            ModelConfig(
                name=config.name,
                base_path=config.base_path,
                policy=policy,
                num_versions=num_versions,
                versions=tuple(config.model_version_policy.specific.versions),
                labels=dict(config.version_labels),
            )
        )
    return configs


def discover_versions(base_path: str | os.PathLike) -> dict[int, Path]:
    """{version: folder} under `base_path` as TF Serving's file-system source sees them.

    Two names with the same number (`1`, `001`): one wins (the lexicographically first), with a
    warning, as TF Serving does.
    """
    base = Path(base_path)
    versions: dict[int, Path] = {}
    for child in sorted(base.iterdir(), key=lambda path: path.name):
        version = parse_version(child.name)
        if version is None:
            continue
        if version in versions:
            logger.warning(
                "Duplicate version directories %s and %s; using the first.",
                versions[version],
                child,
            )
            continue
        versions[version] = child
    return versions


class LoadedVersion:
    """A loaded SavedModel version: its signatures (callable) and its SignatureDef protos."""

    def __init__(self, model_name: str, version: int, path: Path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tf-text ops kerattn's exports use)

        self.model_name = model_name
        self.version = version
        self.path = Path(path)
        self.signature_defs = read_signature_defs(self.path)
        self.saved_model = tf.saved_model.load(str(self.path), tags=[SERVE_TAG])
        self.signatures = dict(self.saved_model.signatures)
        self.padded_axes = read_padded_axes(self.path)

    def signature_def(self, signature_name: str):
        """The SignatureDef proto of `signature_name`, or None."""
        return self.signature_defs.get(signature_name)


def read_padded_axes(version_dir: Path) -> dict[str, dict[str, list[str]]]:
    """{signature key: {output: names of its dimensions 1, 2, …}} from a kerattn export's
    `assets.extra/kerattn_export.json` (what request batching trims to each request's own
    length); empty for any other SavedModel, or an unreadable file."""
    import json

    path = Path(version_dir) / "assets.extra" / "kerattn_export.json"
    try:
        signatures = json.loads(path.read_text(encoding="utf-8")).get("signatures", {})
        return {
            key: dict(description.get("padded_axes", {})) for key, description in signatures.items()
        }
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def read_signature_defs(version_dir: Path) -> dict[str, Any]:
    """{signature key: SignatureDef proto} of the `serve` MetaGraph in `saved_model.pb`."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = Path(version_dir) / "saved_model.pb"
    if not path.exists():
        raise ServingError(
            "NOT_FOUND",
            f"Could not find SavedModel .pb or .pbtxt at supplied export directory "
            f"path: {version_dir}",
        )
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(path.read_bytes())
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise ServingError("DATA_LOSS", f"Could not parse {path}: {error}") from error
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ServingError(
        "NOT_FOUND", f"Could not find meta graph def matching supplied tags: {{ {SERVE_TAG} }}."
    )


def status_message(message: str, version: int, version_dir: Path, base_path: str) -> str:
    """A load failure's message for model status: the version folder named `version <v>` and
    the base path `<base path>`, so clients never see the server's absolute paths."""
    replacements = {}
    for folder, name in (
        (Path(base_path), "<base path>"),
        (Path(version_dir), f"version {version}"),
    ):
        for text in (str(folder), os.path.abspath(folder), os.path.realpath(folder)):
            if text.strip("/.") and len(text) > 1:
                replacements[text] = name
    for text in sorted(replacements, key=len, reverse=True):  # the version folder first
        message = message.replace(text, replacements[text])
    return message


@dataclasses.dataclass
class VersionStatus:
    """What model status reports about one version."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""


class _ModelState:
    def __init__(self, config: ModelConfig):
        self.config = config
        self.active = True  # False once a new config no longer lists the model
        self.statuses: dict[int, VersionStatus] = {}
        self.loaded: dict[int, LoadedVersion] = {}
        # Failed versions: version → (folder, attempts so far, monotonic time of the last one).
        self.failures: dict[int, tuple[Path, int, float]] = {}


class ModelManager:
    """Serves the versions of one or more models from their base paths; thread-safe.

    Args:
        configs: the served models.
        poll_wait_seconds: seconds between discovery passes in `start()`'s thread (TF Serving's
            `--file_system_poll_wait_seconds`, default 1); 0 polls once, negative never.
        loader: builds a loaded version from (model name, version, folder); default `LoadedVersion`
            (tests may pass a stub).
        max_load_retries: how many times a failed load is tried again (default 5).
        load_retry_interval_seconds: the least time between two attempts (default 60).
        enable_model_warmup: replay each version's warm-up records before it is AVAILABLE
            (default True, as TF Serving).
    """

    def __init__(
        self,
        configs: list[ModelConfig],
        poll_wait_seconds: float = 1.0,
        loader=None,
        max_load_retries: int = 5,
        load_retry_interval_seconds: float = 60.0,
        enable_model_warmup: bool = True,
    ):
        names = [config.name for config in configs]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique; received {names}.")
        self.poll_wait_seconds = poll_wait_seconds
        self.max_load_retries = max_load_retries
        self.load_retry_interval_seconds = load_retry_interval_seconds
        self.enable_model_warmup = enable_model_warmup
        self._loader = loader or LoadedVersion
        self._models = {config.name: _ModelState(config) for config in configs}
        self._lock = threading.Lock()  # guards _models' dictionaries
        self._poll_lock = threading.Lock()  # one discovery pass at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- discovery -------------------------------------------------------------------------

    def poll_once(self) -> None:
        """One discovery pass over every model: load new aspired versions, then unload old ones."""
        with self._poll_lock:
            for name in list(self._models):
                if self._models[name].active:
                    self._poll_model(self._models[name])

    def set_configs(self, configs: list[ModelConfig]) -> None:
        """Replaces the served models, as a re-read `--model_config_file` does in TF Serving:
        new models are loaded now, models no longer listed are unloaded (their versions END,
        requests NOT_FOUND), changed policies, labels and base paths apply from this pass.

        Raises:
            ValueError: two configs share a name.
        """
        names = [config.name for config in configs]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique; received {names}.")
        with self._poll_lock:
            with self._lock:
                wanted = {config.name: config for config in configs}
                for name, model in self._models.items():
                    if name not in wanted and model.active:
                        model.active = False
                        for version in list(model.loaded):
                            model.loaded.pop(version)
                            model.statuses[version].state = END
                        logger.info("Unloaded model %s: no longer in the model config", name)
                for name, config in wanted.items():
                    model = self._models.get(name)
                    if model is None:
                        self._models[name] = _ModelState(config)
                        logger.info("Added model %s from the model config", name)
                    else:
                        model.config, model.active = config, True
            for name in wanted:
                self._poll_model(self._models[name])

    def _poll_model(self, model: _ModelState) -> None:
        config = model.config
        base = Path(config.base_path)
        if not base.is_dir():
            logger.error("Could not find base path %s for servable %s", base, config.name)
            return
        on_disk = discover_versions(base)
        if not on_disk:
            logger.warning(
                "No versions of servable %s found under base path %s. Did you forget to name your "
                "leaf directory as a number (eg. '/1/')?",
                config.name,
                base,
            )
        aspired = config.aspired(set(on_disk))
        if config.policy == "specific":
            for missing in sorted(set(config.versions) - set(on_disk)):
                logger.warning(
                    "Version %d of servable %s not found under %s.", missing, config.name, base
                )
        with self._lock:
            # A failed version whose folder disappeared gets fresh retries when it reappears.
            for version in list(model.failures):
                if version not in on_disk:
                    del model.failures[version]
            to_load = [
                v
                for v in sorted(aspired, reverse=True)
                if v not in model.loaded and self._may_try(model, v)
            ]
            for version in to_load:
                model.statuses[version] = VersionStatus(version, START)
        for version in to_load:
            self._load(model, version, on_disk[version])
        with self._lock:
            any_aspired_available = any(v in model.loaded for v in aspired)
            # AvailabilityPreservingPolicy: never unload while nothing aspired is serving,
            # unless every version folder is gone.
            if any_aspired_available or not on_disk:
                to_unload = [v for v in model.loaded if v not in aspired]
            else:
                to_unload = []
            for version in to_unload:
                model.statuses[version].state = UNLOADING
        for version in to_unload:
            with self._lock:
                model.loaded.pop(version, None)
                model.statuses[version].state = END
            logger.info("Unloaded servable version %s %d", config.name, version)

    def _may_try(self, model: _ModelState, version: int) -> bool:
        if version not in model.failures:
            return True
        _, attempts, last = model.failures[version]
        return (
            attempts <= self.max_load_retries
            and time.monotonic() - last >= self.load_retry_interval_seconds
        )

    def _load(self, model: _ModelState, version: int, path: Path) -> None:
        with self._lock:
            model.statuses[version].state = LOADING
        logger.info("Loading servable version %s %d from %s", model.config.name, version, path)
        started = time.monotonic()
        try:
            loaded = self._loader(model.config.name, version, path)
            if self.enable_model_warmup:
                from kerattn.serving.model_warmup import warm_up

                warm_up(loaded)
        except Exception as error:  # noqa: BLE001 - any load failure is recorded, not raised
            METRICS.record_load(str(path), (time.monotonic() - started) * 1e6, succeeded=False)
            failure = from_exception(error)
            logger.error(
                "Loading servable version %s %d failed: %s",
                model.config.name,
                version,
                failure.message,
            )
            message = status_message(failure.message, version, path, model.config.base_path)
            with self._lock:
                attempts = model.failures.get(version, (path, 0, 0.0))[1] + 1
                model.failures[version] = (path, attempts, time.monotonic())
                model.statuses[version] = VersionStatus(version, END, failure.code, message)
            return
        METRICS.record_load(str(path), (time.monotonic() - started) * 1e6, succeeded=True)
        with self._lock:
            model.failures.pop(version, None)
            model.loaded[version] = loaded
            model.statuses[version] = VersionStatus(version, AVAILABLE)
        logger.info("Successfully loaded servable version %s %d", model.config.name, version)

    def start(self) -> None:
        """Polls once now, then (poll_wait_seconds > 0) every poll_wait_seconds in a thread."""
        self.poll_once()
        if self.poll_wait_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._poll_loop, name="kerattn-model-poller", daemon=True
            )
            self._thread.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling whatever one pass hit
                logger.exception("Model discovery pass failed.")

    def stop(self) -> None:
        """Stops the polling thread (loaded versions stay loaded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def unavailable_models(self) -> dict[str, str]:
        """{model name: reason} of the models with no AVAILABLE version (startup check)."""
        with self._lock:
            result = {}
            for name, model in self._models.items():
                if model.active and not model.loaded:
                    failures = [s for s in model.statuses.values() if s.error_code != "OK"]
                    result[name] = failures[0].error_message if failures else "no version loaded"
            return result

    # ---- requests --------------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        return list(self._models)

    def servable(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> LoadedVersion:
        """The loaded version a request names (ModelSpec resolution, server_core.cc).

        Raises:
            ServingError: INVALID_ARGUMENT for an empty name or an unknown label, NOT_FOUND for a
                model or version that is not loaded.
        """
        if not name:
            raise ServingError("INVALID_ARGUMENT", "ModelSpec has no name specified.")
        with self._lock:
            model = self._models.get(name)
            if label is not None:
                if model is None or label not in model.config.labels:
                    raise ServingError(
                        "INVALID_ARGUMENT", f"Unrecognized servable version label: {label}"
                    )
                version = model.config.labels[label]
            if version is not None:
                loaded = model.loaded.get(version) if model else None
                if loaded is None:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
                    )
                return loaded
            if model is None or not model.loaded:
                raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return model.loaded[max(model.loaded)]

    def version_statuses(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Model status: every version ever seen, descending, or just `version`.

        Raises:
            ServingError: NOT_FOUND with get_model_status_impl.cc's texts.
        """
        with self._lock:
            model = self._models.get(name)
            if model is None or not model.statuses:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            if version is not None:
                if version not in model.statuses:
                    raise ServingError(
                        "NOT_FOUND", f"Could not find version {version} of model {name}"
                    )
                return [dataclasses.replace(model.statuses[version])]
            return [
                dataclasses.replace(model.statuses[v]) for v in sorted(model.statuses, reverse=True)
            ]
