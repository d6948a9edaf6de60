"""FusedAdam against keras.optimizers.Adam: the same updates, variables and checkpoints."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerattn.training.fused_adam import FusedAdam
from kerattn.training.learning_rate_schedule import WarmupSchedule


def _variables(seed):
    rng = np.random.default_rng(seed)
    return [
        keras.Variable(rng.normal(size=(6, 4)).astype("float32"), name="kernel"),
        keras.Variable(rng.normal(size=(4,)).astype("float32"), name="bias"),
        keras.Variable(rng.normal(size=(10, 3)).astype("float32"), name="embeddings"),
    ]


def _gradients(rng):
    # an embedding's gradient is IndexedSlices, with a row repeated (Keras's sparse update)
    rows = tf.constant([1, 7, 1], tf.int32)
    values = tf.constant(rng.normal(size=(3, 3)), tf.float32)
    sparse = tf.IndexedSlices(values, rows, tf.constant([10, 3]))
    return [
        tf.constant(rng.normal(size=(6, 4)), tf.float32),
        tf.constant(rng.normal(size=(4,)), tf.float32),
        sparse,
    ]


def _compiled_step(optimizer, variables):
    @tf.function
    def step(gradients):
        optimizer.apply(gradients, variables)

    return step


@pytest.mark.parametrize("wrap", [False, True])
def test_the_updates_equal_keras_adam_over_steps_with_a_schedule(wrap):
    schedule = WarmupSchedule(1e-2, "cosine", 2, 6)
    results = []
    for optimizer_class in (keras.optimizers.Adam, FusedAdam):
        variables = _variables(0)
        optimizer = optimizer_class(schedule, epsilon=1e-6)
        if wrap:  # mixed precision's loss scaling, as the trainer wraps it
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=8.0)
        optimizer.build(variables)
        step = _compiled_step(optimizer, variables)
        rng = np.random.default_rng(1)

        for _ in range(6):
            gradients = _gradients(rng)
            if wrap:
                dense, bias, sparse = gradients
                scaled = tf.IndexedSlices(sparse.values * 8.0, sparse.indices, sparse.dense_shape)
                gradients = [dense * 8.0, bias * 8.0, scaled]
            step(gradients)
        graph = step.get_concrete_function(gradients).graph.as_graph_def()
        nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
        fused_updates = [node for node in nodes if node.op == "ResourceApplyAdam"]
        assert len(fused_updates) == (2 if optimizer_class is FusedAdam else 0)  # the dense ones
        results.append(
            [v.numpy() for v in variables]
            + [v.numpy() for v in optimizer.variables if "iteration" not in v.path]
        )
    assert len(results[0]) == len(results[1])
    moved = np.abs(results[1][0] - _variables(0)[0].numpy()).max()
    assert moved > 1e-3  # the steps did something
    for expected, result in zip(*results):
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)  # float32 rounding


def test_a_checkpoint_of_keras_adam_restores_into_fused_adam(tmp_path):
    variables = _variables(2)
    adam = keras.optimizers.Adam(1e-3)
    adam.apply([tf.ones_like(v) for v in variables], variables)
    prefix = tf.train.Checkpoint(optimizer=adam).write(str(tmp_path / "adam"))
    fused = FusedAdam(1e-3)
    fused.build(_variables(2))
    tf.train.Checkpoint(optimizer=fused).read(prefix).assert_existing_objects_matched()
    assert [v.name for v in fused.variables] == [v.name for v in adam.variables]
    for restored, saved in zip(fused.variables, adam.variables):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())


def test_it_serializes_by_name():
    optimizer = FusedAdam(learning_rate=3e-4, beta_2=0.98)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is FusedAdam
    assert restored.get_config() == optimizer.get_config()
