//! QlooPhone: configuration, wiring, the command line and the sandbox.
//!
//! This crate assembles the domain and the adapters into a server. It owns
//! no call logic of its own.

pub mod call;
pub mod cli;
pub mod config;
pub mod load;
pub mod sim;
pub mod startup;
pub mod telemetry;
