"""Evaluation: accuracy, latency and throughput, inference energy, parameter counts."""

INFERENCE_IMAGES = 2048  # images a model's inference energy is measured on, by default (8 batches)
