//! Test support for the compile-time and end-to-end suites.
