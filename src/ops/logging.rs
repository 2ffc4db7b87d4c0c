//! Log channels (placeholder being written).
