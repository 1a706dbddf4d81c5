//! Black-box conformance tests over the real binaries (stub).
