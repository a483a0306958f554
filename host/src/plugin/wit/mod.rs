//! The contract versions this host speaks, one file each, where the
//! generated bindings meet the host's types ([`crate::contract`]):
//! `since_v0_1.rs` for `ringmaster:plugin@0.1.x`. Everything else in the
//! host, the loader included, goes through the re-exports below.

mod since_v0_1;

pub use since_v0_1::{Exports, add_to_linker};
