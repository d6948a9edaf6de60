"""Exporting kerattn models for TensorFlow Serving.

So far: `op_audit`, which checks that a SavedModel uses only ops stock TF Serving can run.
"""
