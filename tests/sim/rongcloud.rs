//! Vendor simulator: rongcloud (to be written).
