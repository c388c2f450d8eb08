"""Experiments: data (CIFAR-10), the model registry, training, compression and evaluation.

Modules here import torch; import them only from functions of the CLI layer.
"""
