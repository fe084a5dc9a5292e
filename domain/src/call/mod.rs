//! Calls: the per-call state machine, the runner that drives it, and the
//! registry of live calls.
//!
//! [`CallSession`] decides; it is pure and synchronous. [`run_call`] owns
//! the legs and executes what the session decides. [`CallRegistry`] admits
//! calls up to a limit and tells them when the server shuts down.

pub mod control;
mod hold;
pub mod memory;
mod registry;
mod runner;
mod session;
pub mod texting;

pub use control::CallControl;
pub use hold::HoldSound;
pub use registry::{CallPermit, CallRegistry};
pub use runner::{CallServices, Watchdogs, run_call};
pub use session::{
    CallSession, Command, Input, MemoryDone, SessionPolicy, TextDone, Timer, ToolDone,
};
