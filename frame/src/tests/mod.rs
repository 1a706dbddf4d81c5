//! Whole-crate tests: the Rust types against the `.proto` text, the committed wire vectors, and the `//!` rule; per-module tests live beside their modules.

mod schema;
mod tidy;
mod vectors;
