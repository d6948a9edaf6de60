"""The training loss: cross-entropy with label smoothing on float32 logits, and the translator's
loss over its real target positions only."""

from __future__ import annotations

import tensorflow as tf

# Below this probability of the target, −log p loses precision (float32's smallest normal is
# 1.2e-38); a batch with such a row takes the log-sum-exp instead.
_SMALLEST_TARGET_PROBABILITY = 1e-30


def softmax_cross_entropy(logits, targets, label_smoothing: float = 0.0):
    """(losses (N,), softmax(logits) (N, V)) for float32 logits (N, V): −log softmax(logits)[y],
    plus ε · (logit_y − mean_v logit_v) with label smoothing ε (see `cross_entropy`).

    The same values as `tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits` (whose gradient output
    is softmax − onehot), at a third of its cost on the CPU: `tf.nn.softmax` is one fused pass,
    where that op took 35–80 ms for the (1,609, 8,000) logits of a translator batch against
    11 ms (bench/RESULTS.md, issue 17). The loss is −log of the target's probability, exact to
    float32 rounding while that probability is a normal number; a batch where some target's is
    below 1e-30 (a loss above 69) gets log-sum-exp − target logit for every row instead.
    """
    probabilities = tf.nn.softmax(logits)
    target_logits = tf.gather(logits, targets, axis=1, batch_dims=1)  # (N,)
    target_probabilities = tf.gather(probabilities, targets, axis=1, batch_dims=1)  # (N,)
    losses = tf.cond(
        tf.reduce_all(target_probabilities > _SMALLEST_TARGET_PROBABILITY),
        lambda: -tf.math.log(target_probabilities),
        lambda: tf.reduce_logsumexp(logits, axis=-1) - target_logits,
    )
    if label_smoothing:
        losses += label_smoothing * (target_logits - tf.reduce_mean(logits, axis=-1))
    return losses, probabilities


def cross_entropy(logits, targets, label_smoothing: float = 0.0):
    """Per-row cross-entropy of logits (N, V) against int targets (N,), in float32.

    Label smoothing ε mixes the one-hot target with the uniform distribution over the V
    classes: loss = (1 − ε) · (−log p_y) + ε · mean_v(−log p_v) = −log p_y + ε · (logit_y −
    mean_v logit_v), since −mean_v log p_v = logsumexp − mean_v logit_v and −log p_y =
    logsumexp − logit_y. Its gradient, softmax − (1 − ε) · onehot − ε / V, is written by hand
    from the softmax of `softmax_cross_entropy`: one pass over (N, V), where autodiff of the
    smoothing term would add two more (N, V) tensors to the gradient.

    Returns:
        float32 (N,).
    """
    logits = tf.cast(logits, tf.float32)
    targets = tf.cast(targets, tf.int32)

    @tf.custom_gradient
    def smoothed(logits):
        losses, probabilities = softmax_cross_entropy(logits, targets, label_smoothing)

        def gradient(upstream):  # (N,)
            result = probabilities
            if label_smoothing:
                result -= label_smoothing / tf.cast(tf.shape(logits)[-1], tf.float32)
            rows = tf.range(tf.shape(targets)[0])
            result = tf.tensor_scatter_nd_add(
                result,
                tf.stack([rows, targets], axis=1),
                tf.fill(tf.shape(targets), tf.constant(label_smoothing - 1.0, tf.float32)),
            )
            return upstream[:, None] * result

        return losses, gradient

    return smoothed(logits)


def real_position_loss(backbone, inputs, targets, label_smoothing: float = 0.0, training=None):
    """A `Seq2SeqBackbone`'s token cross-entropy at the real (non-padding) target positions.

    The projection to the vocabulary is most of a translator step's arithmetic. Padded
    positions weigh 0 in the loss, so they are left out before the projection rather than
    masked after it (a batch of lengths 20–30 padded to 30 saves ~18 % of the product), and
    projection and loss are one op with a hand-written gradient (`projected_cross_entropy`).

    Args:
        backbone: a `Seq2SeqBackbone` (`decoder_outputs` and its `projection` Dense layer).
        inputs: its teacher-forced inputs (dict of "source_ids" and "target_input_ids").
        targets: int (B, T), 0 at padding.

    Returns:
        (losses float32 (N,), logits float32 (N, V), targets (N,)) for the N real positions in
        row-major order; the logits carry no gradient (they are for accuracy).
    """
    positions = tf.where(tf.not_equal(targets, 0))  # (N, 2)
    hidden = backbone.decoder_outputs(inputs, training=training)  # (B, T, units)
    real_targets = tf.gather_nd(targets, positions)
    projection = backbone.projection
    losses, logits = projected_cross_entropy(
        tf.gather_nd(hidden, positions),
        tf.convert_to_tensor(projection.kernel),
        tf.convert_to_tensor(projection.bias),
        real_targets,
        label_smoothing,
    )
    return losses, logits, real_targets


def projected_cross_entropy(hidden, kernel, bias, targets, label_smoothing: float = 0.0):
    """`cross_entropy(hidden · kernel + bias, targets, label_smoothing)` as one op.

    The gradient touches (N, V) once: the softmax times the incoming gradient, through the
    two products and the bias sum. The rest of softmax − (1 − ε) · onehot − ε / V is rank one
    plus N single entries, so its products with the kernel and the hidden rows are taken
    directly: with w = (ε − 1) · u, dh gains w · W[:, y] − ε · u · mean_v W[:, v], dW and db
    their transposed counterparts.

    Args:
        hidden: (N, U), the compute dtype (float16 under mixed precision).
        kernel: (U, V); bias: (V,) (float32, the variables' values).
        targets: int (N,).

    Returns:
        (losses float32 (N,), logits float32 (N, V) without gradient).
    """
    targets = tf.cast(targets, tf.int32)
    epsilon = float(label_smoothing)

    @tf.custom_gradient
    def fused(hidden, kernel, bias):
        dtype = hidden.dtype
        logits = tf.cast(
            tf.matmul(hidden, tf.cast(kernel, dtype)) + tf.cast(bias, dtype), tf.float32
        )
        losses, probabilities = softmax_cross_entropy(logits, targets, epsilon)
        hidden32 = tf.cast(hidden, tf.float32)
        kernel32 = tf.cast(kernel, tf.float32)

        def gradient(upstream, _logits_upstream):
            scaled = upstream[:, None] * probabilities  # (N, V)
            grad_hidden = tf.matmul(scaled, kernel32, transpose_b=True)  # (N, U)
            grad_kernel = tf.matmul(hidden32, scaled, transpose_a=True)  # (U, V)
            grad_bias = tf.reduce_sum(scaled, axis=0)
            vocabulary = tf.shape(kernel32)[1]
            # The targets' share: (ε − 1) · u at each (row, target).
            weight = (epsilon - 1.0) * upstream  # (N,)
            target_columns = tf.gather(kernel32, targets, axis=1)  # (U, N)
            grad_hidden += weight[:, None] * tf.transpose(target_columns)
            weighted_rows = weight[:, None] * hidden32  # (N, U)
            grad_kernel += tf.transpose(
                tf.math.unsorted_segment_sum(weighted_rows, targets, vocabulary)
            )
            grad_bias += tf.math.unsorted_segment_sum(weight, targets, vocabulary)
            if epsilon:  # the uniform share: −ε · u / V everywhere
                uniform = epsilon * upstream  # (N,)
                size = tf.cast(vocabulary, tf.float32)
                grad_hidden -= uniform[:, None] * tf.reduce_mean(kernel32, axis=1)
                grad_kernel -= tf.reduce_sum(uniform[:, None] * hidden32, axis=0)[:, None] / size
                grad_bias -= tf.reduce_sum(uniform) / size
            return (
                tf.cast(grad_hidden, hidden.dtype),
                tf.cast(grad_kernel, kernel.dtype),
                tf.cast(grad_bias, bias.dtype),
            )

        return (losses, tf.stop_gradient(logits)), gradient

    return fused(hidden, kernel, bias)
