"""Pass/fail evaluation of test programmes (FCR prequalification: :mod:`scenarios.verdicts.fcr`).

Each evaluator takes recorded arrays and returns a JSON-ready verdict
``{"pass", "failed", "requirements": {name: {"value", "limit", "unit", "pass", "detail"}}}``
that goes into ``summary.json`` under ``verdicts``.
"""
