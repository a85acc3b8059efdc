"""A study's outputs, read back from its directory: the trials and results.csv / summary.json
(``trials``), the terminal's table (``table``), what a failed trial raised (``failures``),
``best.yaml`` (``best``), the report (``report``, drawn by ``html``) and the best config
trained again on the held-out split (``retrain``).

May import ``trial`` (retrain trains), ``config``, ``space``, ``search``, ``store`` and
``errors``; never the driver.
"""
