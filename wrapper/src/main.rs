//! zccache wrapper (stub).
fn main() {}
