//! rongcloud end to end (to be written).
