//! The registry's command line, as a library: the import is driven by the
//! `registry` binary and by the end-to-end tests alike.

pub mod client;
pub mod dead_letters;
pub mod import;
pub mod sign_in;
