//! Whole-crate tests: the Rust types against the `.proto` text, the committed wire vectors; per-module tests live beside their modules.

mod schema;
mod vectors;
