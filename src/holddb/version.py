"""The MongoDB version holddb presents itself as, and its own version."""

HOLDDB_VERSION = "0.1.0"
MONGODB_VERSION = "7.0.12"
MONGODB_VERSION_ARRAY = [7, 0, 12, 0]
MIN_WIRE_VERSION = 0
MAX_WIRE_VERSION = 21  # MongoDB 7.0
FEATURE_COMPATIBILITY_VERSION = "7.0"
