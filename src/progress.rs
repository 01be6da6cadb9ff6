//! Progress events for long steps; the CLI draws them on stderr.
