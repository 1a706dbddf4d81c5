//! The conformance suite: one integration binary, black-box over the real
//! `zccache`, `zccache-broker` and `zccache-daemon` with real compilers.
//!
//! Modules by area; shared helpers are in the crate's `src/lib.rs`. Nothing
//! here mocks a component.

mod broker;
mod buildsystems;
mod cross;
mod deliver;
mod differential;
mod divergence;
mod e2e;
mod faults;
mod frame;
mod habits;
mod hits;
mod oracle;
mod plumbing;
mod profile;
mod remote;
mod rust;
mod rust_links;
mod second_chance;
mod sick_root;
mod thirdparty;
mod tidy;
mod trust;
mod worktree;
