"""What runs inside a Ray Tune trial: the built-in trial (``builtin``), its checkpoint state
(``state``), the torch and scikit-learn learners, the test-function trials (``objectives``) and
the trials that fail on purpose (``faults``); the runner of functions on the trial API
(``runner``, ``api``), and of a Hydra app's task function (``app``).

May import ``config.build``, ``config.app``, ``space``, ``store``, ``data``, ``models``,
``errors`` and ``internals``; never the driver.
"""
