"""`python -m services.preferences serve|api|worker|migrate`."""

from services.kit.entry import main
from services.preferences.bootstrap import build_definition
from services.preferences.entrypoints.api import create_preferences_app

if __name__ == "__main__":
    main(None, build_definition=build_definition, build_app=create_preferences_app)
