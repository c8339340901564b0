"""Generic utilities with no knowledge of training: atomic writes and safe checkpoint files, memory release,
progress output, file fingerprints, process checks, batch sharding. The data layer and the engine both use them."""
