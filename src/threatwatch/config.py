"""Settings, read once from the environment (prefix ``THREATWATCH_``) and an optional ``.env`` file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# In a source checkout the shipped models live beside ``src/``; an installed wheel points
# THREATWATCH_MODEL_DIR at them instead (the Dockerfile does).
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "threatwatch"


def _default_model_dir() -> Path:
    return _REPO_ROOT / "models"


class Settings(BaseSettings):
    """Everything an operator may change; defaults run the embedded, single-machine mode."""

    model_config = SettingsConfigDict(env_prefix="THREATWATCH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means a SQLite file in the data dir."
    )
    model_dir: Path = Field(default_factory=_default_model_dir)
    model_name: str | None = Field(
        default=None, description="Model directory name under model_dir; default: the one named in CURRENT."
    )
    labelled_data_dir: Path = Field(default_factory=lambda: _REPO_ROOT / "labelled_data")
    cache_dir: Path = Field(
        default=Path(),
        description="Where the transformer base model is rebuilt once (~470 MB); empty: <data dir>/cache.",
    )

    # Collection
    http_timeout_s: float = 15.0
    max_feed_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "threatwatch/0.1 (+https://github.com/threatwatch/threatwatch; feed monitor)"
    default_poll_interval_s: int = 900
    fetch_retries: int = 2
    fetch_retry_delay_s: float = 10.0
    classify_batch_size: int = 256

    # Web
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _defaults_in_data_dir(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'threatwatch.db'}"
        if not self.cache_dir.parts:
            self.cache_dir = self.data_dir / "cache"
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings`` instead of patching this."""
    return Settings()
