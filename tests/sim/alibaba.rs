//! Vendor simulator: alibaba (to be written).
