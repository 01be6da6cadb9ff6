//! Real registries (CNCF distribution) started on loopback for tests.
