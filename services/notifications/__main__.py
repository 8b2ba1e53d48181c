"""`python -m services.notifications serve|api|worker|migrate`."""

from services.kit.entry import main
from services.notifications.bootstrap import build_definition
from services.notifications.entrypoints.api import create_notifications_app

if __name__ == "__main__":
    main(None, build_definition=build_definition, build_app=create_notifications_app)
