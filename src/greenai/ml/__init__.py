"""The ML building blocks, with no run bookkeeping: data, models, training, compression, evaluation.

Modules here import torch; import them only from functions of the CLI layer.
"""
