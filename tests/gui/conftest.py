"""The GUI tests' fixtures, defined in ``gui_helpers.py``."""

from gui_helpers import browser, events, make_gui, open_page, serve, terminal

__all__ = ["browser", "events", "make_gui", "open_page", "serve", "terminal"]
