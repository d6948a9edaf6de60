"""The attention dashboard's backend: TensorBoard routes over the `attention` summaries.

Reads through TensorBoard's data provider only (`list_tensors`/`read_tensors`), so it works the
same with the Rust data server and the Python event multiplexer. Routes, under
`/data/plugin/attention/`:

- `index.js`, `static/<file>`: the frontend (plain ES modules and CSS from `static/`);
- `runs`: every run's probes (name, kind, text, description, last step), and the runs that only
  have the old PNG heatmaps (`attention/probe_<i>` images) to say why they show nothing here;
- `probe?run=R&name=N`: every logged step of one probe: source and target tokens, the weights
  and the trainer's diagnostics of that matrix (`kerattn.attention_diagnostics`).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from kerattn.tensorboard_plugin import metadata

_STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {"index.js", "heatmap.js", "charts.js", "style.css"}
_ALL_STEPS = 1_000_000  # read_tensors' downsample: keep whatever the reader sampled
_OLD_IMAGE_PREFIX = "attention/probe_"  # the PNG heatmaps kerattn has always written


class AttentionPlugin(base_plugin.TBPlugin):
    """TensorBoard plugin `attention`: probes' alignments and token weights over steps."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._data_provider = context.data_provider

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_static,
            "/static/*": self._serve_static,
            "/runs": self._serve_runs,
            "/probe": self._serve_probe,
        }

    def is_active(self) -> bool:
        return False  # TensorBoard decides from data_plugin_names and the data

    def data_plugin_names(self):
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Attention")

    @wrappers.Request.application
    def _serve_static(self, request):
        name = request.path.rsplit("/", 1)[-1]
        if name not in _STATIC_FILES:
            raise errors.NotFoundError(f"no static file {name!r}")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith(".js"):
            content_type = "text/javascript"  # module scripts need a JavaScript MIME type
        return http_util.Respond(request, (_STATIC / name).read_bytes(), content_type)

    @wrappers.Request.application
    def _serve_runs(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return http_util.Respond(request, self.runs(ctx, experiment), "application/json")

    @wrappers.Request.application
    def _serve_probe(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        run, name = request.args.get("run"), request.args.get("name")
        if not run or not name:
            raise errors.InvalidArgumentError("probe needs both `run` and `name` arguments")
        return http_util.Respond(
            request, self.probe(ctx, experiment, run, name), "application/json"
        )

    def runs(self, ctx, experiment: str) -> dict:
        """{"runs": [{"run", "probes": [{"name", "kind", "text", "description", "max_step"}]}],
        "image_only_runs": [runs with the old PNG heatmaps and no attention data],
        "unreadable": [messages for summaries of a newer or unknown content]}."""
        listing = self._data_provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME
        )
        runs, unreadable = [], []
        for run in sorted(listing):
            probes = {}
            for tag_name, series in sorted(listing[run].items()):
                parts = metadata.split_tag(tag_name)
                if parts is None or parts[1] != "weights":
                    continue
                try:
                    content = metadata.parse_content(series.plugin_content)
                except ValueError as error:
                    unreadable.append(f"{run}/{tag_name}: {error}")
                    continue
                probes[parts[0]] = {
                    "name": parts[0],
                    "kind": content.get("kind", "alignment"),
                    "text": content.get("text", ""),
                    "max_step": series.max_step,
                    "description": series.description.removesuffix(" (weights)"),
                }
            if probes:
                runs.append({"run": run, "probes": list(probes.values())})
        images = self._data_provider.list_blob_sequences(
            ctx, experiment_id=experiment, plugin_name="images"
        )
        with_data = {entry["run"] for entry in runs}
        image_only = sorted(
            run
            for run, tags in images.items()
            if run not in with_data and any(t.startswith(_OLD_IMAGE_PREFIX) for t in tags)
        )
        return {"runs": runs, "image_only_runs": image_only, "unreadable": unreadable}

    def probe(self, ctx, experiment: str, run: str, name: str) -> dict:
        """{"run", "name", "kind", "text", "steps": [{"step", "wall_time", "source_tokens",
        "target_tokens", "weights", "diagnostics"}]} for the steps all three summaries have."""
        from kerattn import attention_diagnostics

        tags = {role: metadata.tag(name, role) for role in metadata.ROLES}
        data = self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=_ALL_STEPS,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=list(tags.values())),
        )
        series = data.get(run, {})
        if tags["weights"] not in series:
            raise errors.NotFoundError(f"run {run!r} has no attention probe {name!r}")
        listing = self._data_provider.list_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tags["weights"]]),
        )
        content = metadata.parse_content(listing[run][tags["weights"]].plugin_content)
        kind = content.get("kind", "alignment")
        by_role = {
            role: {datum.step: datum for datum in series.get(tag_name, [])}
            for role, tag_name in tags.items()
        }
        steps = []
        for step in sorted(by_role["weights"]):
            if step not in by_role["source_tokens"]:
                continue  # sampled away in one series and not the other
            weights = by_role["weights"][step].numpy
            target = by_role["target_tokens"].get(step)
            steps.append(
                {
                    "step": int(step),
                    "wall_time": by_role["weights"][step].wall_time,
                    "source_tokens": _strings(by_role["source_tokens"][step].numpy),
                    "target_tokens": _strings(target.numpy) if target is not None else [],
                    "weights": weights.astype(float).tolist(),
                    "diagnostics": attention_diagnostics.summarize(
                        weights, translation=kind == "alignment"
                    )
                    if weights.size
                    else {},
                }
            )
        return {
            "run": run,
            "name": name,
            "kind": kind,
            "text": content.get("text", ""),
            "steps": steps,
        }


def _strings(array) -> list[str]:
    return [
        value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        for value in array.reshape(-1).tolist()
    ]


class AttentionPluginLoader(base_plugin.TBLoader):
    """What the `tensorboard_plugins` entry point names: loads `AttentionPlugin`."""

    def load(self, context: base_plugin.TBContext):
        return AttentionPlugin(context)
