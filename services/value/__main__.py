"""`python -m services.value serve|api|worker|migrate|recompute|rates load FILE`."""

import sys

from services.kit.entry import main
from services.value.bootstrap import build_definition
from services.value.entrypoints.api import create_value_app
from services.value.entrypoints.cli import COMMANDS, run

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        run(sys.argv[1:])
    else:
        main(None, build_definition=build_definition, build_app=create_value_app)
