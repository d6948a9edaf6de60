"""Training from recipes: tf.function steps under tf.distribute, checkpoints and resume,
TensorBoard scalars, attention heatmaps and attention diagnostics.

Public API:
    train, TrainResult, TrainingInterrupted (trainer), load_recipe, Recipe, RecipeError (recipe),
    make_dataset (`kerattn.data.input_pipeline`), WarmupSchedule, checkpoints (atomic
    checkpoints, newest-readable resume), run_folder (progress, overwrite, stale temporaries,
    the lock).

The modules, from the entry point down: trainer (`train`: setup and the loop), command
(`kerattn train`, `kerattn evaluate`), recipe, model_factory (tokenizers and model from a
recipe), replica_steps (the distributed train/eval step), loss, loss_scaling, training_state
(what a checkpoint holds), checkpoints (its files), random_states (dropout seeds), validation
(the periodic evaluation and its summaries: sample_quality, sample_summaries,
attention_summaries), run_log (metrics.json, TrainResult), interruption (Ctrl-C), run_folder,
distribution, learning_rate_schedule.

Evaluating a finished model (`kerattn evaluate`) is `kerattn.zoo.evaluation`, with its metrics
in `kerattn.zoo.metrics`; the attention diagnostics are `kerattn.attention_diagnostics`; the
input pipeline is `kerattn.data.input_pipeline`.
"""

from kerattn.data.input_pipeline import make_dataset
from kerattn.training import checkpoints, run_folder
from kerattn.training.learning_rate_schedule import WarmupSchedule
from kerattn.training.recipe import Recipe, RecipeError, load_recipe
from kerattn.training.trainer import TrainingInterrupted, TrainResult, train

__all__ = [
    "Recipe",
    "RecipeError",
    "TrainResult",
    "TrainingInterrupted",
    "WarmupSchedule",
    "checkpoints",
    "load_recipe",
    "make_dataset",
    "run_folder",
    "train",
]
