"""One module per command, each a few lines over the library."""
