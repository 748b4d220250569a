//! The `archway` binary, run as a user runs it.

mod keys;
mod serve;
mod tokens;
