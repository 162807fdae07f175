"""Experiments: what the course's results were made with, each a command with ``--help``.

``run_store`` is the one place that knows run folders (which runs are finished, what made them,
which may stand together as seeds of one recipe); the rest are thin recipes over it and the
library: ``sweep`` (test-set runs of the model registry, notebook 07), ``ablations`` (validation
runs, notebook 05), ``numeric_paths``, ``robustness`` (notebook 06), ``frontier``, ``lr_range``,
``baselines``, ``design_challenge``, ``class_experiment``, and ``report`` (the README's tables).
"""
