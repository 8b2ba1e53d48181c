"""`python -m services.feedback serve|api|worker|migrate|read-comments`."""

import sys

from services.feedback.bootstrap import build_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.feedback.entrypoints.cli import COMMANDS, run
from services.kit.entry import main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        run(sys.argv[1:])
    else:
        main(None, build_definition=build_definition, build_app=create_feedback_app)
