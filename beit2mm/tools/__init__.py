"""The command-line tools' code: ``tools/<name>.py`` (and
``tools/<folder>/<name>.py``) run ``beit2mm.tools[.<folder>].<name>.main``,
so the scripts need no ``sys.path`` edit after ``make install`` and tests
import the modules normally (``from beit2mm.tools import train``). Nothing in
the rest of the package imports from here."""
