"""Training from recipes: tf.function steps under tf.distribute, checkpoints and resume,
TensorBoard scalars, attention heatmaps and attention diagnostics.

Public API:
    train, TrainResult, TrainingInterrupted (trainer), load_recipe, Recipe, RecipeError (recipe),
    make_dataset (`kerattn.data.input_pipeline`), WarmupSchedule, attention_diagnostics,
    metrics (BLEU/chrF, WER/PER, accuracy/F1), checkpoints (atomic checkpoints, newest-readable
    resume), run_folder (progress, overwrite, stale temporaries, the lock).

Evaluating a finished model (`kerattn evaluate`) is `kerattn.zoo.evaluation`.
"""

from kerattn.data.input_pipeline import make_dataset
from kerattn.training import attention_diagnostics, checkpoints, metrics, run_folder
from kerattn.training.learning_rate_schedule import WarmupSchedule
from kerattn.training.recipe import Recipe, RecipeError, load_recipe
from kerattn.training.trainer import TrainingInterrupted, TrainResult, train

__all__ = [
    "Recipe",
    "RecipeError",
    "TrainResult",
    "TrainingInterrupted",
    "WarmupSchedule",
    "attention_diagnostics",
    "checkpoints",
    "metrics",
    "load_recipe",
    "make_dataset",
    "run_folder",
    "train",
]
