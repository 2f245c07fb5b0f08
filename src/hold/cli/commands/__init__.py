"""One module per command family; cli/main.py maps command names to them."""
