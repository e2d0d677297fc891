"""``python -m kafkakit``: the ``kafkakit`` command line (see kafkakit.cli.main).

What it must never do: do anything at import time beyond running the command.
"""

from kafkakit.cli.main import main

if __name__ == "__main__":
    main()
