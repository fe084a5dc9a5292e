//! QlooPhone: configuration, wiring, the command line and telemetry.
//!
//! This crate assembles the domain and the adapters into a server, and in
//! sandbox mode points them at the simulated peers of `qloophone-sandbox`.
//! It owns no call logic of its own.

pub mod cli;
pub mod commands;
pub mod config;
pub mod runtime;
pub mod sandbox;
pub mod startup;
pub mod telemetry;
