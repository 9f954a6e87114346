"""Entry point: ``python run.py [command]``; see omega_actors/cli/."""

import sys

from omega_actors.cli import main

if __name__ == "__main__":
    sys.exit(main())
