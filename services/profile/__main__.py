"""`python -m services.profile serve|api|worker|migrate|import FILE|estimate-weights|rekey`."""

import sys

from services.kit.entry import main
from services.profile.bootstrap import build_definition
from services.profile.entrypoints.api import create_profile_app

if __name__ == "__main__":
    if sys.argv[1:2] == ["import"]:
        from services.profile.entrypoints.cli import main as import_main

        import_main(sys.argv[2:])
    elif sys.argv[1:2] == ["estimate-weights"]:
        from services.profile.entrypoints.cli import estimate_main

        estimate_main(sys.argv[2:])
    elif sys.argv[1:2] == ["rekey"]:
        from services.profile.entrypoints.cli import rekey_main

        rekey_main(sys.argv[2:])
    else:
        main(None, build_definition=build_definition, build_app=create_profile_app)
