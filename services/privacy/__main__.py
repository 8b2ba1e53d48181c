"""`python -m services.privacy serve|api|worker|migrate|erase|show`."""

import sys

from services.kit.entry import main
from services.privacy.bootstrap import build_definition
from services.privacy.entrypoints.api import create_privacy_app
from services.privacy.entrypoints.cli import COMMANDS, run

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        run(sys.argv[1:])
    else:
        main(None, build_definition=build_definition, build_app=create_privacy_app)
