//! Integration tests over real sockets: the server on port 0 with the
//! simulated model and caller.

mod access;
mod barge_in;
mod binary;
mod browser;
mod calls;
mod connections;
mod drain;
mod edges;
mod fidelity;
mod fleet;
mod helpers;
mod hold;
mod live;
mod load;
mod logs;
mod memory;
mod metrics;
mod models;
mod qloo;
mod recommendations;
mod reports;
mod routes;
mod scenarios;
mod signatures;
mod sip;
mod tags;
mod texts;
mod tls;
mod trust;
