//! Shared helpers for the black-box conformance tests (stub).
