"""What runs inside a Ray Tune trial: the built-in trial (``builtin``), its checkpoint state
(``state``), the torch and scikit-learn learners, the test-function trials (``objectives``) and
the trials that fail on purpose (``faults``).

May import ``config.build``, ``space``, ``store``, ``data``, ``models``, ``errors`` and
``internals``; never the driver.
"""
