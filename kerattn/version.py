"""kerattn's version: one place, read by the package, the build and the corpus manifests."""

__version__ = "0.1.0"
