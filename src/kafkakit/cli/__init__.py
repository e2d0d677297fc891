"""kafkakit.cli: the ``kafkakit`` command line (click + rich).

How it works: ``main.py`` holds the click group and the single place where errors become one
stderr line and an exit code; each command group lives in its own module (produce, consume,
topics, groups, bench, quickstart) and shares options, client construction and table rendering
through ``common.py``.

What it must never do: import client or broker code before a command actually needs it.
"""
