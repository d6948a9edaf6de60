"""kerattn's attention dashboard for TensorBoard (plugin name `attention`).

Installed with `pip install kerattn[train]`; TensorBoard finds it through the
`tensorboard_plugins` entry point (`kerattn.tensorboard_plugin.plugin:AttentionPluginLoader`).
The summaries it reads are written by `kerattn.visualization.log_attention` (format:
`kerattn.tensorboard_plugin.metadata`); the frontend is plain JavaScript and CSS in `static/`,
served by the plugin itself (no build step, nothing loaded from the network).
"""
