//! zccache-broker (stub).
fn main() {}
