"""threatwatch: early warning for online threats against Dutch public officials."""

__version__ = "0.1.0"
