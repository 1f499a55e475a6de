//! Brand look-alikes within a small edit distance.
