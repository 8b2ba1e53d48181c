"""docker-compose.yml agrees with the code it runs.

The container path cannot run where Docker is missing, so these checks catch what would
otherwise only fail at `docker compose up`: a command naming a module that does not exist,
an environment variable no settings class reads (silently ignored), a published port the
service does not listen on, a mounted file that is not in the repository, and image
versions drifting from the native setup.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from services.console.settings import ConsoleSettings
from services.feedback.settings import FeedbackSettings
from services.kit.settings import ServiceSettings
from services.notifications.settings import NotificationsSettings
from services.preferences.settings import PreferencesSettings
from services.profile.settings import ProfileSettings
from services.trips.settings import TripsSettings
from services.value.settings import ValueSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]

SETTINGS: dict[str, type[BaseSettings]] = {
    "profile": ProfileSettings,
    "preferences": PreferencesSettings,
    "feedback": FeedbackSettings,
    "notifications": NotificationsSettings,
    "value": ValueSettings,
    "trips": TripsSettings,
    "console": ConsoleSettings,
    "topics": ServiceSettings,
}


def _env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads (own prefix; services also ITINERA_)."""
    prefixes = [str(settings.model_config.get("env_prefix", ""))]
    if issubclass(settings, ServiceSettings):
        prefixes.append("ITINERA_")
    return {f"{prefix}{field}".upper() for prefix in prefixes for field in settings.model_fields}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_command_runs_a_module_of_the_project(name: str) -> None:
    command = SERVICES[name]["command"]
    assert command[:2] == ["python", "-m"], command
    assert importlib.util.find_spec(f"{command[2]}.__main__") is not None, command


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_environment_variable_is_read_by_the_service(name: str) -> None:
    unknown = set(SERVICES[name].get("environment", {})) - _env_names(SETTINGS[name])
    assert unknown == set(), f"{name}: no settings field reads {sorted(unknown)}"


@pytest.mark.parametrize("name", sorted(set(SETTINGS) - {"topics"}))
def test_published_port_is_the_port_the_service_listens_on(name: str) -> None:
    settings = SETTINGS[name]
    listens = settings.model_fields["http_port"].default
    published = {int(mapping.rsplit(":", 1)[1]) for mapping in SERVICES[name]["ports"]}
    assert published == {listens}


def test_console_origin_is_allowed_by_the_services_cors_default() -> None:
    origins = ServiceSettings.model_fields["cors_origins"].get_default(call_default_factory=True)
    port = ConsoleSettings.model_fields["http_port"].default
    assert f"http://localhost:{port}" in origins


def test_mounted_files_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_kafka_image_matches_the_native_broker_version() -> None:
    pom = (ROOT / "deploy/kafka/pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match is not None
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{match.group(1)}"


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if image and not image.startswith("itinera:"):
            assert ":" in image, f"{name}: pin {image}"
            assert not image.endswith(":latest"), f"{name}: pin {image}"
