//! TEMPORARY: replaced by the rotation of the `rotate` branch.
