"""One batch's train and evaluation steps under a tf.distribute strategy: run on every replica,
reduced across them.

The loss is summed over the real (non-padding) target tokens of a replica's share and divided
by the number of real tokens in the *global* batch (all replicas), so the loss and gradients do
not depend on how a batch is split over devices. The gradients are all-reduced here, clipped by
their global norm (the norm of the full gradient, which Keras's own `global_clipnorm` would not
see under a strategy: it clips per replica before its all-reduce), then divided by the replica
count because the Keras optimizer sums gradients over replicas once more. Under mixed precision
the gradients are unscaled for the norm and clipping and scaled again (`loss_scaling`).

On a CPU, a replica's share can be computed as `parts` independent slices of its batch, each
a subgraph of its own whose losses and correct counts are summed: TensorFlow's executor runs
the slices' recurrences side by side, one per core, where one batch's small step-by-step
products leave cores idle (`distribution.batch_parts` and `share_cores`; bench/RESULTS.md,
issue 17). The sums are the same up to float rounding.
"""

from __future__ import annotations

import tensorflow as tf

from kerattn import compat
from kerattn.training.loss import cross_entropy, real_position_loss
from kerattn.training.loss_scaling import LossScale


class ReplicaSteps:
    """The compiled train and evaluation steps of a run.

    Args:
        strategy: the run's `tf.distribute.Strategy`.
        model: the `Translator` or `Classifier` being trained (built in the strategy's scope).
        optimizer: its optimizer (a `LossScaleOptimizer` for mixed precision).
        family: "translator" (loss per target token) or "classifier" (per example).
        label_smoothing: the recipe's [optimizer] label_smoothing.
        clip_norm: the recipe's [optimizer] clip_norm (0 or None: no clipping).
        parts: slices of each replica's batch computed as independent subgraphs (see the
            module docstring); 1 computes the batch as one.
    """

    def __init__(
        self,
        strategy,
        model,
        optimizer,
        family: str,
        label_smoothing: float,
        clip_norm: float | None,
        parts: int = 1,
    ):
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise ValueError(f"parts must be an int of at least 1, received {parts!r}.")
        self.parts = parts
        self.strategy = strategy
        self.model = model
        self.optimizer = optimizer
        self.family = family
        self.label_smoothing = label_smoothing
        self.clip_norm = clip_norm
        self.replicas = strategy.num_replicas_in_sync
        self.loss_scale = LossScale(optimizer)
        self.xla = False
        self.train_function = self.eval_function = None

    def compile(self, train_spec, eval_spec, xla: bool) -> None:
        """Traces the steps once for every batch shape (`*_spec`: the distributed datasets'
        element specs, with None batch and length dimensions); `xla`: jit-compile the train
        step."""
        self.xla = xla
        self.train_function = tf.function(
            self._train_step, input_signature=[train_spec], jit_compile=xla or None
        )
        self.eval_function = tf.function(self._eval_step, input_signature=[eval_spec])

    def train(self, batch):
        """One optimizer step on a distributed batch; returns the global (loss sum, correct
        predictions, weight, throughput tokens, gradient norm)."""
        if not self.xla:
            return self.train_function(batch)
        try:
            return self.train_function(batch)
        except tf.errors.InvalidArgumentError as error:
            if not compat.is_xla_compilation_error(error):
                raise
            raise RuntimeError(
                "--xla: XLA could not compile this model's train step (on TF 2.21 the "
                "decoder's keras.ops.scan over a variable-length target has no fixed loop "
                "size, which XLA's gradient requires); train without --xla."
            ) from error

    def evaluate(self, batch):
        """The global (loss sum, correct predictions, weight) of a distributed batch."""
        return self.eval_function(batch)

    # -- in graph ---------------------------------------------------------------------------

    def _weight_and_tokens(self, inputs, targets):
        """What the loss is averaged over (real target tokens, or examples) and the throughput
        tokens (real target tokens, or real input tokens), as float32 scalars."""
        if self.family == "translator":
            real_tokens = tf.reduce_sum(tf.cast(tf.not_equal(targets, 0), tf.float32))
            return real_tokens, real_tokens
        examples = tf.cast(tf.shape(targets)[0], tf.float32)
        return examples, tf.reduce_sum(tf.cast(tf.not_equal(inputs, 0), tf.float32))

    def _replica_train_step(self, inputs, targets):
        context = tf.distribute.get_replica_context()
        weight, tokens = self._weight_and_tokens(inputs, targets)
        global_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, weight)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss_sum, correct = self._loss_and_correct(inputs, targets, training=True)
            loss = loss_sum / tf.maximum(global_weight, 1.0)
            scaled_loss = self.loss_scale.scale_loss(loss)
        # Dense gradients (embeddings give IndexedSlices): all-reduce, norm and scaling below.
        # A variable the loss does not reach (the encoder's annotation projection when
        # attention="none") gets a zero gradient, so every replica all-reduces the same list.
        gradients = [
            tf.zeros_like(variable) if gradient is None else tf.convert_to_tensor(gradient)
            for gradient, variable in zip(tape.gradient(scaled_loss, variables), variables)
        ]
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)  # full gradient
        gradients = self.loss_scale.unscale(gradients)
        gradient_norm = tf.linalg.global_norm(gradients)
        if self.clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, self.clip_norm, use_norm=gradient_norm)
        gradients = self.loss_scale.rescale(gradients)
        # The Keras optimizer sums over replicas again: hand it each replica's share.
        gradients = [gradient / self.replicas for gradient in gradients]
        self.optimizer.apply(gradients, variables)
        return loss_sum, correct, weight, tokens, gradient_norm

    def _loss_and_correct(self, inputs, targets, training: bool):
        """The replica's summed loss and correct predictions, over `parts` slices of its
        batch (a slice may be empty)."""
        if self.parts == 1:
            return self._slice_loss_and_correct(inputs, targets, training)
        rows = tf.shape(targets)[0]
        edges = [rows * index // self.parts for index in range(self.parts + 1)]
        sums = [
            self._slice_loss_and_correct(
                tf.nest.map_structure(lambda tensor, a=start, b=end: tensor[a:b], inputs),
                targets[start:end],
                training,
            )
            for start, end in zip(edges, edges[1:])
        ]
        return tuple(tf.add_n(list(values)) for values in zip(*sums))

    def _slice_loss_and_correct(self, inputs, targets, training: bool):
        """Summed loss and correct predictions of a batch. A translator is projected to the
        vocabulary at its real target positions only (`real_position_loss`); a classifier has
        one label per example."""
        if self.family == "translator":
            losses, logits, targets = real_position_loss(
                self.model.backbone, inputs, targets, self.label_smoothing, training=training
            )  # (N,), (N, V), (N,)
        else:
            logits = self.model(inputs, training=training)  # (B, classes)
            losses = cross_entropy(logits, targets, self.label_smoothing)
        loss_sum = tf.reduce_sum(losses)
        predictions = tf.argmax(logits, axis=-1, output_type=targets.dtype)
        return loss_sum, tf.reduce_sum(tf.cast(tf.equal(predictions, targets), tf.float32))

    def _train_step(self, batch):
        results = self.strategy.run(self._replica_train_step, args=batch)
        loss_sum, correct, weight, tokens, norm = (
            self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in results
        )
        return loss_sum, correct, weight, tokens, norm / self.replicas

    def _replica_eval_step(self, inputs, targets):
        weight, _ = self._weight_and_tokens(inputs, targets)
        loss_sum, correct = self._loss_and_correct(inputs, targets, training=False)
        return loss_sum, correct, weight

    def _eval_step(self, batch):
        results = self.strategy.run(self._replica_eval_step, args=batch)
        return tuple(
            self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in results
        )
