//! Build script: makes `ZCCACHE_PROTOCOL_VERSION_OVERRIDE` a rebuild trigger; it generates no code.
//!
//! The value itself is read by `option_env!` in `src/version.rs`; this script
//! only tells cargo that changing it must rebuild the crate, so a test can
//! build a binary that speaks another protocol version.

fn main() {
    println!("cargo:rerun-if-env-changed=ZCCACHE_PROTOCOL_VERSION_OVERRIDE");
    println!("cargo:rerun-if-changed=build.rs");
}
