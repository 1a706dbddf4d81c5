//! zccache-daemon (stub).
fn main() {}
