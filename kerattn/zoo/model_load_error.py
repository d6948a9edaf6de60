"""The errors of resolving a MODEL argument (a preset name, a preset folder, a `.keras` file)."""

from kerattn.errors import UsageError


class ModelLoadError(UsageError):
    """MODEL cannot be loaded; the message is one sentence saying what would be accepted."""


class WrongModelKindError(ModelLoadError):
    """MODEL is a Translator where a Classifier is needed, or the other way round."""
