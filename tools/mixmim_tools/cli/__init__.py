"""The command lines of the scripts in ``tools/``: each module has the
``main(argv=None) -> int`` of the script of the same name, which is a thin
entry point calling it."""
