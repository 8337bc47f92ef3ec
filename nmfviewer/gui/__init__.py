"""The desktop app (PySide6 + pyqtgraph). Import :func:`nmfviewer.gui.app.main` to run it."""
