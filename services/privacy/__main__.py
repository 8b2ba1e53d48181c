"""`python -m services.privacy serve|api|worker|migrate`."""

from services.kit.entry import main
from services.privacy.bootstrap import build_definition
from services.privacy.entrypoints.api import create_privacy_app

if __name__ == "__main__":
    main(None, build_definition=build_definition, build_app=create_privacy_app)
