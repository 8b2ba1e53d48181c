"""`python -m services.feedback serve|api|worker|migrate`."""

from services.feedback.bootstrap import build_definition
from services.feedback.entrypoints.api import create_feedback_app
from services.kit.entry import main

if __name__ == "__main__":
    main(None, build_definition=build_definition, build_app=create_feedback_app)
