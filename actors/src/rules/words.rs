//! Cutting a label into words.
