//! alibaba end to end (to be written).
