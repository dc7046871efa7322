"""The `replayer` command line: thin click wrappers over the library packages."""
