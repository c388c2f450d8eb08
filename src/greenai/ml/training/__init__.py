"""Training building blocks: ``TrainConfig``, the epoch loop, the green recipes, checkpoints, progress."""
