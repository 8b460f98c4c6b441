//! Vendor simulator: jocloud (to be written).
