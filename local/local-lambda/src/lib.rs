//! Lambda's execution environments on one machine.
//!
//! Lambda runs a `provided.al2023` function as its own executable
//! (`bootstrap`), which asks the Runtime API for each event and posts the
//! answer back. This crate does the same with the function's binary built
//! for this machine: one process per execution environment, started on a
//! cold start and reused while warm, given the function's variables and
//! its own Runtime API address, and held to what the template gives it:
//!
//! - `MemorySize`: the process's resident memory is watched while it works;
//!   over the limit it is killed and the invocation fails with
//!   `Runtime.OutOfMemory`, as Lambda's cgroup ends it (`memory.rs`).
//! - `Timeout`: past it the environment is ended (`Sandbox.Timedout`).
//! - A process that exits, during init or an invocation, fails it with
//!   `Runtime.ExitError` and the environment is gone.
//!
//! Each invocation ends with Lambda's `REPORT` (duration, billed duration,
//! memory size, max memory used, init duration on a cold start).
//!
//! **Invariant**: it knows no function of the registry and no other local
//! service; what a function's output means (logs, metrics) is its caller's.

mod environment;
mod memory;
mod report;
mod runtime_api;

pub use environment::{ExecutionEnvironment, FunctionConfig, FunctionError, Invocation, LogSink};
pub use report::Report;

/// Lambda's limit on a synchronous invocation's payload and answer.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
