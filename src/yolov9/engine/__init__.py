"""Engines that run models: prediction (and, later, evaluation and training)."""
