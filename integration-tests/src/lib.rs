//! Shared test support for the end-to-end suites.
