"""Containers: records, lifecycle, the writable layer, diff, commit, logs."""
