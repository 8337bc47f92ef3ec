"""What the command line asks the window to do: one frozen, validated object.

The CLI parses and validates everything (paths, load options, parameters,
the scripted-run options) and hands a :class:`GuiRequest` to
``nmfviewer.gui.app.run``; the GUI never parses arguments and never imports
the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .params import LoadOptions, NMFParams

#: k shown in the window when none was given
DEFAULT_K = 16


@dataclass(frozen=True)
class GuiRequest:
    """How to open the window.

    paths:          files / folders to load (empty: the sample faces).
    load_options:   how to load them.
    params:         the parameters shown in the Run panel.
    start:          start fitting once loaded.
    screenshot:     save a screenshot of the window there (when done, with
                    ``quit_when_done``), or None.
    quit_when_done: close the window when the run has stopped (or on failure).
    threads:        BLAS threads: a number or 'auto' (the window leaves the GUI
                    thread a core).
    """

    paths: tuple[Path, ...] = ()
    load_options: LoadOptions = field(default_factory=LoadOptions)
    params: NMFParams = field(default_factory=lambda: NMFParams(n_components=DEFAULT_K))
    start: bool = False
    screenshot: Path | None = None
    quit_when_done: bool = False
    threads: int | str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(Path(p) for p in self.paths))
        if self.screenshot is not None:
            object.__setattr__(self, "screenshot", Path(self.screenshot))

    @property
    def scripted(self) -> bool:
        """True when the run is driven from the command line (start, screenshot, quit)."""
        return self.start or self.screenshot is not None or self.quit_when_done
