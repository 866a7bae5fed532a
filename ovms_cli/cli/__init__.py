"""Everything only the ``ovms`` command needs: its Typer app, OVMS's argv form, usage rules,
``validate-config``'s report, the config-file edits, ``list-models`` and download progress bars.

The server (``ovms_cli.servables``, ``ovms_cli.transports``) imports nothing from here.
"""

from ovms_cli.cli.app import app, main

__all__ = ["app", "main"]
