"""Evaluation: accuracy, latency and throughput, inference energy, parameter counts."""
