"""Reading journey definitions from their YAML files (`services/trips/journeys/*.yaml`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from services.trips.domain.definitions import DefinitionError, JourneyDefinition, check_all, parse_definition


def load_definitions(directory: Path | None = None) -> dict[str, JourneyDefinition]:
    """Every definition of `directory` (the packaged ones by default), validated; DefinitionError otherwise."""
    root = directory or Path(str(resources.files("services.trips") / "journeys"))
    found = []
    for path in sorted(root.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DefinitionError(f"journey definition {path.name} is not valid YAML: {exc}") from exc
        found.append(parse_definition(data, origin=path.name))
    return check_all(found)
