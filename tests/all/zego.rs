//! zego end to end (to be written).
