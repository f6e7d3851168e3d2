"""Who we watch: importing the watchlist and finding officials in text."""

from threatwatch.watchlist.importer import WatchlistError, import_officials, read_watchlist
from threatwatch.watchlist.matching import OfficialMatcher, OfficialRef

__all__ = ["OfficialMatcher", "OfficialRef", "WatchlistError", "import_officials", "read_watchlist"]
