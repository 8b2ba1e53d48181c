"""`python -m services.profile serve|api|worker|migrate`."""

from services.kit.entry import main
from services.profile.bootstrap import build_definition
from services.profile.entrypoints.api import create_profile_app

if __name__ == "__main__":
    main(None, build_definition=build_definition, build_app=create_profile_app)
