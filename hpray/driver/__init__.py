"""The driver: a prepared study run as a Ray Tune experiment, new or restored.

``run`` (the study from start to exit code), ``tuner`` (the Tuner and the Ray it runs on),
``resume`` (what an existing study directory allows), ``lock`` (one driver per study),
``storage`` (the storage checked before anything is written), ``progress``, ``scheduler_state``
(ASHA's rungs kept across a resume) and ``lighter`` (Ray Tune driver work cut).

May import ``config``, ``search``, ``results``, ``store``, ``errors`` and ``internals``; never
trial code: trials run in Ray's workers, located by the ``trainable`` config key.
"""
