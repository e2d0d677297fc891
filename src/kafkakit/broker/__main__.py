"""``python -m kafkakit.broker``: the same as ``kafkakit broker`` (see ``kafkakit.broker.cli``)."""

from __future__ import annotations

import sys

from kafkakit.broker.cli import main

if __name__ == "__main__":
    sys.exit(main())
