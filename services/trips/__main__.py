"""`python -m services.trips serve|api|worker|migrate`."""

from services.kit.entry import main
from services.trips.bootstrap import build_definition
from services.trips.entrypoints.api import create_trips_app

if __name__ == "__main__":
    main(None, build_definition=build_definition, build_app=create_trips_app)
