"""Small generic helpers: config files, registries, builders, checkpoints, seeding, distributed."""
