"""The Models page shows each version's model card pictures and functional suite; the pictures are served
only to admins, only by name, and only from a listed model version."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from threatwatch.config import Settings
from threatwatch.db.models import User
from threatwatch.domain import Role
from threatwatch.web import create_app
from threatwatch.web.modelinfo import FIGURES, PNG_SIGNATURE, figure_path
from threatwatch.web.security import STRICT_CSP

from ..conftest import SHIPPED_MODELS
from .seed import login

ClientAs = Callable[[Role], tuple[TestClient, str]]
LIVE = (SHIPPED_MODELS / "CURRENT").read_text().strip()
OLDER = "cascade-20261128-13c111e0"  # shipped before the functional suite was recorded


def _url(name: str, figure: str) -> str:
    return f"/models/{name}/figures/{figure}.png"


def test_admin_gets_every_figure_of_the_live_model(client_as: ClientAs) -> None:
    admin, _ = client_as(Role.ADMIN)
    for figure, file_name in FIGURES.items():
        response = admin.get(_url(LIVE, figure))
        assert response.status_code == 200, (figure, response.status_code)
        assert response.headers["content-type"] == "image/png"
        assert response.content == (SHIPPED_MODELS / LIVE / file_name).read_bytes()
        assert response.content.startswith(PNG_SIGNATURE)
        assert response.headers["cache-control"] == "private, max-age=3600"
        assert response.headers["content-security-policy"] == STRICT_CSP
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("role", [Role.ANALYST, Role.SUPPORT])
def test_other_roles_get_no_figures(client_as: ClientAs, role: Role) -> None:
    client, _ = client_as(role)
    assert client.get(_url(LIVE, "pr_curves")).status_code == 403
    assert client.get("/models").status_code == 403


def test_anonymous_is_sent_to_login(app: FastAPI) -> None:
    client = TestClient(app)
    response = client.get(_url(LIVE, "reliability"), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    "path",
    [
        _url("cascade-20990101-00000000", "pr_curves"),  # no such version
        _url(LIVE, "README"),  # a file of the version, but not a figure
        _url(LIVE, "metrics"),
        _url(LIVE, "config"),
        _url(LIVE, "pr_curves.png"),
        _url("CURRENT", "pr_curves"),  # the pointer file, not a directory
        _url("..%2F..%2Fetc", "pr_curves"),
        _url("..%2F..%2Fetc", "passwd"),
        _url(f"..%2F{LIVE}", "pr_curves"),
        _url("..", "pr_curves"),
        _url("%2E%2E", "pr_curves"),
        f"/models/{LIVE}/figures/..%2Fconfig.json",
        f"/models/{LIVE}/figures/pr_curves.svg",
        f"/models/{LIVE}/figures/PR_CURVES.png",
    ],
)
def test_unknown_versions_and_figures_are_not_found(client_as: ClientAs, path: str) -> None:
    admin, _ = client_as(Role.ADMIN)
    response = admin.get(path, follow_redirects=False)
    assert response.status_code == 404, (path, response.status_code)
    assert not response.content.startswith(PNG_SIGNATURE)


def test_models_page_shows_figures_and_functional_rates(client_as: ClientAs) -> None:
    admin, _ = client_as(Role.ADMIN)
    page = admin.get("/models").text
    for figure in FIGURES:
        img = re.search(rf'<img src="{re.escape(_url(LIVE, figure))}"[^>]*>', page)
        assert img, figure
        assert 'loading="lazy"' in img.group(0) and re.search(r'alt="[^"]{10,}"', img.group(0))
        assert re.search(r'width="\d+" height="\d+"', img.group(0))
    live = page[page.index(f'id="model-{LIVE}"') : page.index(f'id="model-{OLDER}"')]
    metrics = json.loads((SHIPPED_MODELS / LIVE / "metrics.json").read_text())
    functionalities = metrics["functional"]["functionalities"]
    assert live.count("data-functionality=") == len(functionalities)
    row = re.search(r'<tr[^>]*data-functionality="direct_threat">.*?</tr>', live, re.S)
    assert row and f">{functionalities['direct_threat']['floor']:.2f}<" in row.group(0)
    stream = metrics["stream"]
    assert (
        "Ondergrens" in live
        and (
            f"{stream['false_flags_per_1000_ordinary']:.1f} valse meldingen per 1.000 gewone berichten"
            f" ({stream['ordinary_flagged']} van {stream['ordinary']} gemarkeerd)"
        )
        in live
    )
    below = set(metrics["functional"]["below_floor"])
    assert live.count('class="below-floor"') == len(below)
    older = page[page.index(f'id="model-{OLDER}"') :]
    assert "Functionele toetsen niet vastgelegd" in older and "Stroomset niet vastgelegd" in older
    assert _url(OLDER, "pr_curves") in older  # its card has pictures, though no functional suite
    english = admin.get("/models?lang=en").text
    assert "Floor" in english and "Functional suite not recorded for this version." in english
    assert "Confusion matrix on the test set" in english


def _model(directory: Path, name: str, metrics: dict[str, object] | None = None) -> Path:
    path = directory / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"kind": "cascade", "thresholds": {}}))
    if metrics is not None:
        (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_versions_without_card_files_and_links_out(
    settings: Settings, users: dict[Role, User], tmp_path: Path
) -> None:
    models = tmp_path / "models"
    bare = _model(models, "cascade-20250101-00000000")  # an old version: config only
    below = _model(
        models,
        "cascade-20250202-11111111",
        {
            "functional": {
                "functionalities": {
                    "direct_threat": {"expected": "flagged", "pass_rate": 0.5, "floor": 0.85, "cases": 28},
                    "negated_threat": {
                        "expected": "not_flagged",
                        "pass_rate": 1.0,
                        "floor": 0.85,
                        "cases": 28,
                    },
                },
                "below_floor": ["direct_threat"],
            }
        },
    )
    (models / "CURRENT").write_text(below.name)
    outside = tmp_path / "secret.png"
    outside.write_bytes(PNG_SIGNATURE + b"not for the web")
    (below / FIGURES["pr_curves"]).symlink_to(outside)  # a link that leads out of the model directory
    (models / "notamodel").mkdir()
    (models / "notamodel" / FIGURES["pr_curves"]).write_bytes(PNG_SIGNATURE)  # no config: not a version
    assert figure_path(models, name=below.name, figure="pr_curves") is None
    assert figure_path(models, name="notamodel", figure="pr_curves") is None

    client = TestClient(create_app(settings.model_copy(update={"model_dir": models})))
    login(client, users[Role.ADMIN].username)
    page = client.get("/models?lang=en")
    assert page.status_code == 200
    old = page.text[page.text.index(f'id="model-{bare.name}"') :]
    assert "Figures not recorded for this version." in old and "Functional suite not recorded" in old
    assert "Stream set not recorded" in old and "<img" not in old
    new = page.text[page.text.index(f'id="model-{below.name}"') : page.text.index(f'id="model-{bare.name}"')]
    assert new.count('class="below-floor"') == 1 and "below floor" in new
    assert re.search(r'class="below-floor" data-functionality="direct_threat"', new)
    assert "1/2" in new
    for name in (bare.name, below.name, "notamodel"):
        assert client.get(_url(name, "pr_curves")).status_code == 404
    client.close()
