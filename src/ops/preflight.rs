//! Preflight checks (placeholder being written).
