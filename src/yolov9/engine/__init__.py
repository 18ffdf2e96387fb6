"""Evaluation and training: the evaluator and ``val``, the training loop, its parts, recipes,
resume and checkpoints, and checkpoint conversion."""
