"""The tapfinder command line (Typer + Rich): parses, calls the libraries, renders."""
