//! zccache-daemon (stub while the store and cc modules are written).
mod store;

fn main() {}
