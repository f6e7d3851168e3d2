"""Running threatwatch for real: logs, health, metrics, retention, subject export, backups."""
