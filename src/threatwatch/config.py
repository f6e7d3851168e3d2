"""Settings, read once from the environment (prefix ``THREATWATCH_``) and an optional ``.env`` file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    classify_languages: str = Field(
        # Frisian too: an official language of the Netherlands, and the language detector's answer for
        # much dialect Dutch ("Krieg de pest, goa toch noar hoes" was "fy": 104 of the 172 posts that
        # the 50k load run left unclassified under "nl" alone).
        default="nl,fy",
        description="Comma-separated language codes that are classified; posts in other detected languages "
        "are stored but not classified. Posts whose language cannot be told are classified.",
    )
    per_host_concurrency: int = Field(default=2, description="Concurrent requests to one host at most.")
    fetch_workers: int = Field(default=8, description="Sources fetched at the same time in one run.")
    max_backoff_s: int = Field(
        default=6 * 3600, description="Upper bound of the exponential back-off of a failing source."
    )
    source_lease_s: int = Field(
        default=900, description="How long a run holds a source; an overlapping run skips held sources."
    )
    backfill_max_pages: int = Field(default=50, description="Pages per source that `collect --since` reads.")
    search_sources: bool = Field(
        default=True,
        description="`officials import` generates per-official search sources (Google News, Reddit, "
        "Mastodon tag, Bluesky/Mastodon accounts). The demo never does.",
    )
    google_news_url: str = Field(default="https://news.google.com", description="Google News base URL.")
    reddit_url: str = Field(default="https://www.reddit.com", description="Reddit base URL.")
    mastodon_url: str = Field(
        default="https://mastodon.social", description="Mastodon instance whose tag timelines are searched."
    )
    bluesky_api_url: str = Field(
        default="https://public.api.bsky.app", description="Bluesky public AppView base URL."
    )
    schedule_intervals_s: dict[str, int] = Field(
        default_factory=lambda: {
            "mastodon": 120,
            "bluesky": 120,
            "reddit": 300,
            "google_news": 600,
            "feed": 600,
            "municipal": 1800,
            "youtube": 1800,
        },
        description="How often `serve` runs the collection deployment of each source kind (JSON object).",
    )

    # Explanations of flagged posts, computed after intake (src/threatwatch/flows/explain.py)
    explain_interval_s: int = Field(
        default=60, ge=5, description="How often `serve` explains the flagged posts intake has queued."
    )
    explain_batch_size: int = Field(
        default=16, ge=1, description="Flagged posts explained per transaction (each ~50 model passes)."
    )

    # Review queue
    queue_refresh_interval_s: int = Field(
        default=600, ge=10, description="How often `serve` recomputes queue priorities so faded surges sink."
    )

    # Web
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = Field(
        default="",
        description="Signs session cookies; empty: generated once and kept in <data dir>/secret_key.",
    )
    session_max_age_s: int = Field(default=8 * 3600, description="A login lasts this long.")
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Request bodies over this are refused (413) unread."
    )
    cookie_secure: bool = Field(
        default=False, description="Send cookies over HTTPS only; set it behind a TLS proxy."
    )
    login_max_failures_per_user: int = Field(
        default=5,
        ge=1,
        description="Failed logins for one username from one client address within the window before that "
        "address gets 429 for that username (other addresses are not affected).",
    )
    login_account_slowdown_after: int = Field(
        default=10,
        ge=1,
        description="Failed logins for one username from all addresses within the window after which an "
        "address that already failed on it (and never logged in to it) gets no further try until the "
        "window passes; clean addresses are never refused.",
    )
    login_max_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins from one client address within the window before 429."
    )
    login_failure_window_s: int = Field(
        default=900, ge=1, description="Window in which failed logins are counted (a sliding window)."
    )

    # Operations (issue 8): logs, metrics, retention
    log_format: str = Field(default="text", description="'text' or 'json' (one JSON object per log line).")
    metrics_token: str = Field(
        default="",
        description="Bearer token /metrics requires; empty: /metrics answers loopback clients only.",
    )
    retention_none_post_days: int = Field(
        default=30, ge=1, description="Days before the text of a post the model did not flag is erased."
    )
    retention_dismissed_days: int = Field(
        default=90, ge=1, description="Days after dismissal before a dismissed item and its post are erased."
    )
    retention_closed_days: int = Field(
        default=365, ge=1, description="Days after a decided/closed item's last change before it is erased."
    )
    retention_audit_days: int = Field(default=730, ge=1, description="Days audit events are kept.")
    purge_interval_s: int = Field(default=86400, ge=60, description="How often the purge flow runs.")

    # Alerts (issue 6): subscriptions, channels, the dispatcher
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the web app; alerts link back to items there.",
    )
    smtp_host: str = Field(default="localhost", description="SMTP server for e-mail alerts.")
    smtp_port: int = Field(default=25, description="SMTP port (587 for STARTTLS, 465 for SSL).")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="'none', 'starttls' or 'ssl' (implicit TLS)."
    )
    smtp_ca_file: str = Field(
        default="", description="CA bundle to verify the SMTP server's certificate; empty: the system's."
    )
    smtp_username: str = Field(default="", description="SMTP login; empty: no authentication.")
    smtp_password: str = Field(default="", description="SMTP password.")
    smtp_from: str = Field(default="threatwatch@localhost", description="Sender address of e-mail alerts.")
    alert_timezone: str = Field(
        default="Europe/Amsterdam",
        description="Zone of digest times and quiet hours, and of times in alerts.",
    )
    alert_channel_timeout_s: float = Field(
        default=10.0, gt=0, description="A delivery (SMTP, webhook, Apprise) taking longer counts as failed."
    )
    alert_max_attempts: int = Field(default=8, ge=1, description="Attempts before an alert is marked failed.")
    alert_retry_base_s: float = Field(
        default=30.0, ge=0, description="First retry delay; doubled after each failed attempt."
    )
    alert_retry_max_s: float = Field(default=3600.0, ge=0, description="Longest delay between attempts.")
    alert_coalesce_window_s: float = Field(
        default=300.0,
        ge=0,
        description="Flagged posts about one official within this window share one alert.",
    )
    alert_dispatch_workers: int = Field(default=16, ge=1, description="Deliveries in parallel.")
    alert_dispatch_poll_s: float = Field(default=1.0, gt=0, description="How often the dispatcher looks.")
    alert_dispatch_run_s: float = Field(
        default=55.0, ge=0, description="How long one dispatch flow run keeps polling before it ends."
    )
    alert_include_excerpt: bool = Field(
        default=False, description="Put the first 200 characters of the post in alerts (personal data)."
    )
    alert_allow_private_targets: bool = Field(
        default=False,
        description="Let webhook and Apprise targets be loopback, private, link-local or other non-public "
        "addresses (tests, receivers on the internal network). Off: such targets are refused when a "
        "subscription is made and at send time, so support users cannot reach internal services (SSRF).",
    )

    # Retraining on analysts' labels (issue 7)
    retrain_f1_margin: float = Field(
        default=0.01,
        ge=0,
        description="A challenger may lose at most this much flagged F1 on each evaluation.",
    )
    retrain_stream_false_flag_margin: float = Field(
        default=2.0,
        ge=0,
        description="A challenger may flag at most this many more ordinary posts per 1,000 than the champion "
        "on the realistic stream set (labelled_data/stream/).",
    )
    retrain_functional_case_margin: int = Field(
        default=1,
        ge=0,
        description="Where the champion is already below a functionality's floor, a challenger may pass "
        "this many fewer of its cases (a few dozen per functionality: one case is noise).",
    )
    retrain_min_kappa: float = Field(
        default=0.6,
        ge=-1,
        le=1,
        description="Promote only if analysts who labelled the same messages agree at least this much "
        "(Cohen's kappa; 0.6 is 'substantial' agreement).",
    )
    retrain_min_agreement_items: int = Field(
        default=30, ge=1, description="Messages labelled twice needed before the kappa check applies."
    )
    retrain_window_share: float = Field(
        default=0.2, ge=0, lt=1, description="Most recent share of analyst labels held out for evaluation."
    )
    retrain_after_new_labels: int = Field(
        default=500,
        ge=0,
        description="Retrain once this many new labels arrived; 0: only on schedule/by hand.",
    )
    retrain_interval_s: int = Field(default=7 * 86400, ge=3600, description="Scheduled retraining interval.")
    retrain_check_interval_s: int = Field(
        default=3600, ge=60, description="How often the new-label count is checked against the threshold."
    )
    retrain_stage: str = Field(
        default="cascade", description="'cascade' (both stages) or 'fast' (fast stage alone) challengers."
    )
    active_learning_share: float = Field(
        default=0.05, ge=0, lt=1, description="Share of the open queue filled with the least certain posts."
    )

    @property
    def classify_language_set(self) -> frozenset[str]:
        return frozenset(code.strip().lower() for code in self.classify_languages.split(",") if code.strip())

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
