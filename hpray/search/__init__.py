"""Searchers: the parsed space as a Ray Tune search plan (grid, random, Optuna's samplers),
schedulers (Ray Tune's ASHA, never stopping a trial at its full budget), how many trials run
at once (``slots``: as many as the cluster fits), and growing a restored search when a study
asks for more trials (``grow``).

May import ``space``, ``errors`` and ``internals``.
"""
