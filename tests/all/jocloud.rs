//! jocloud end to end (to be written).
