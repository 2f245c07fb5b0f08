"""The schema of hold's metadata database, drawn in one place.

    images      id (sha256:<config digest>) -> config JSON, manifest JSON,
                parent image id ('' for imports), last tag time
    image_layers (image id, position) -> diff id  (bottom layer is 0)
    tags        "repo:tag" -> image id            (many tags, one image)
    layers      diff_id -> size, tar size         (shared by images; the
                unpacked dir is layers/<hex>, the tar blobs/sha256/<hex>)
    containers  id (64 hex) -> name, image, config JSON, state JSON
    volumes     name -> driver, options, labels, anonymous, created
    networks    id -> name, driver, config JSON
    leases      (network, ip) -> container: an address held, never twice
    locks       name -> holder pid (single-flight operations like prune)

Which containers use an image or a volume is derived from ``containers``
(their config JSON), never stored as a counter, so it cannot drift.
``user_version`` records the schema version; ``migrate`` brings an older
database up to date inside one transaction.
"""

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    diff_id   TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    created   TEXT NOT NULL,
    tar_size  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS images (
    id        TEXT PRIMARY KEY,
    config    TEXT NOT NULL,
    manifest  TEXT NOT NULL,
    created   TEXT NOT NULL,
    size      INTEGER NOT NULL DEFAULT 0,
    parent    TEXT NOT NULL DEFAULT '',
    last_tagged TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS images_by_parent ON images(parent);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id  TEXT NOT NULL REFERENCES images(id),
    position  INTEGER NOT NULL,
    diff_id   TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_by_layer ON image_layers(diff_id);
CREATE TABLE IF NOT EXISTS tags (
    name      TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS tags_by_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS containers (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    image_id  TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    config    TEXT NOT NULL,
    state     TEXT NOT NULL,
    created   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS containers_by_image ON containers(image_id);
CREATE TABLE IF NOT EXISTS volumes (
    name      TEXT PRIMARY KEY,
    driver    TEXT NOT NULL,
    options   TEXT NOT NULL,
    labels    TEXT NOT NULL,
    anonymous INTEGER NOT NULL DEFAULT 0,
    created   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    network_id   TEXT NOT NULL,
    ip           TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (network_id, ip),
    UNIQUE (network_id, container_id)
);
CREATE TABLE IF NOT EXISTS networks (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    driver    TEXT NOT NULL,
    config    TEXT NOT NULL,
    created   TEXT NOT NULL
);
"""
