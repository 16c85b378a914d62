//! The domain's rules over the test kit's fakes: one test binary for the
//! crate, a module per feature.

mod metadata;
mod rectify;
