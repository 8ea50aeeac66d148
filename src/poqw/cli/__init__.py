"""The ``poqw`` command: thin Typer commands over the library, one file per command group."""
