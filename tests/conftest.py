import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
MODELS = SHARED / "models"


@pytest.fixture(autouse=True, scope="session")
def hub_home(tmp_path_factory):
    """Every test session gets an empty hub home; models come from the ../shared mirror."""
    home = tmp_path_factory.mktemp("hub_home")
    os.environ["HUB_HOME"] = str(home)
    os.environ.pop("HUB_MODEL_MIRRORS", None)
    os.environ.pop("HUB_OFFLINE", None)
    return home


def hub_cmd():
    return [sys.executable, "-m", "hub_core.cli"]
