"""The command line: parse, call the services, render; no logic of its own."""
