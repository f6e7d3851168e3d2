"""The one cache of loaded models in a process: the live model, which picks up a promotion or rollback
without a restart, or a model pinned by name.

``get()`` looks at ``CURRENT`` (its modification time, size and inode; its contents when they change) on
every call, which costs one ``stat`` per batch, and loads the model it names only when that changed. The
previous model is dropped, so memory holds one model however often the champion changes.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from threatwatch.classify.base import Classifier
from threatwatch.config import Settings
from threatwatch.registry.pointer import CURRENT_FILE, current_model_path, load_model

logger = logging.getLogger(__name__)


class LiveModel:
    def __init__(self, model_dir: Path, *, cache_dir: Path, pinned: str | None = None) -> None:
        self.model_dir = model_dir
        self.cache_dir = cache_dir
        self.pinned = pinned  # THREATWATCH_MODEL_NAME: then CURRENT is not followed
        self._lock = threading.Lock()
        self._pointer_state: tuple[int, int, int] | None = None
        self._path: Path | None = None
        self._model: Classifier | None = None

    def _pointer(self) -> tuple[int, int, int] | None:
        try:
            stat = (self.model_dir / CURRENT_FILE).stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def get(self) -> Classifier:
        """The model ``CURRENT`` names now (or the pinned one), loaded once per change."""
        with self._lock:
            state = None if self.pinned else self._pointer()
            if self._model is not None and (self.pinned or state == self._pointer_state):
                return self._model
            path = current_model_path(self.model_dir, self.pinned).resolve()
            if self._model is None or path != self._path:
                logger.info("loading live model %s", path.name)
                self._model = load_model(path, cache_dir=self.cache_dir)
                self._path = path
            self._pointer_state = state
            return self._model


_live: dict[tuple[Path, Path, str | None], LiveModel] = {}
_live_lock = threading.Lock()


def live_model(model_dir: Path, *, cache_dir: Path, pinned: str | None = None) -> LiveModel:
    """One ``LiveModel`` per process, model folder and pin, shared by the flows, the web app and the
    CLI."""
    key = (model_dir.resolve(), cache_dir, pinned)
    with _live_lock:
        if key not in _live:
            _live[key] = LiveModel(model_dir, cache_dir=cache_dir, pinned=pinned)
        return _live[key]


def load_classifier(model_dir: Path, name: str | None = None, *, cache_dir: Path) -> Classifier:
    """The model ``name`` names (or ``CURRENT``, followed), from the process's one cache."""
    return live_model(model_dir, cache_dir=cache_dir, pinned=name).get()


def live_classifier(settings: Settings) -> Classifier:
    """The model these settings serve: ``CURRENT``, followed, unless THREATWATCH_MODEL_NAME pins one."""
    return load_classifier(settings.model_dir, settings.model_name, cache_dir=settings.cache_dir)
