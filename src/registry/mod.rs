//! Registry push over the Docker Registry HTTP API v2 (to be written).
