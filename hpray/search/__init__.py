"""Searchers: the parsed space as a Ray Tune search plan (grid, random, Optuna's samplers),
schedulers (Ray Tune's ASHA, never stopping a trial at its full budget), and growing a
restored search when a study asks for more trials (``grow``).

May import ``space``, ``errors`` and ``internals``.
"""
