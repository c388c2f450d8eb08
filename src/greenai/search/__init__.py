"""Energy-aware multi-objective hyperparameter search (``greenai search``).

- ``space``: the search space, declared once, narrowable from flags or a TOML/JSON file.
- ``pareto``: pure maths (non-dominated set, hypervolume, its history) and the two PNG renderers.
- ``study``: the Optuna study (storage URL checks, sampler, resume).
- ``objective``: one trial = one greenai training run.

Nothing here imports optuna, torch or matplotlib at module level.
"""
