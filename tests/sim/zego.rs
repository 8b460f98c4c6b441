//! Vendor simulator: zego (to be written).
