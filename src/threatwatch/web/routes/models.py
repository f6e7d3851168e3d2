"""Model versions with their model cards' pictures and functional-suite pass rates (admins)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, Response

from threatwatch.web.deps import (
    ModelsUser,
    SettingsDep,
)
from threatwatch.web.modelinfo import figure_path, list_model_versions
from threatwatch.web.rendering import render

router = APIRouter(include_in_schema=False)

# A model version's directory is written once and named by a hash of its inputs, so its pictures may be
# kept for a while; only in this browser (they are an admin's view, behind login).
FIGURE_CACHE_CONTROL = "private, max-age=3600"


@router.get("/models")
def models_page(request: Request, settings: SettingsDep, user: ModelsUser) -> Response:
    versions = list_model_versions(settings.model_dir)
    return render(request, "models.html", {"versions": versions, "model_dir": settings.model_dir}, user=user)


@router.get("/models/{name}/figures/{figure}.png")
def model_figure(settings: SettingsDep, user: ModelsUser, name: str, figure: str) -> Response:
    """One of a model card's pictures (``modelinfo.FIGURES``) of a listed model version; 404 otherwise."""
    path = figure_path(settings.model_dir, name=name, figure=figure)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such model figure")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": FIGURE_CACHE_CONTROL})
